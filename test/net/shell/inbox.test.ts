import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { TransportError } from '../../../source/net/core/errors.js';
import { Inbox } from '../../../source/net/shell/inbox.js';
import type { Message, SocketEvents } from '../../../source/net/shell/types.js';

const msg = (peer: string, bytes: number): Message => ({
  content: Buffer.alloc(bytes),
  peer,
  timestamp: 0,
  stream: 0,
});

describe('the receive inbox', () => {
  it('keeps at most its limit in messages and in bytes, dropping the oldest, reported once per overflow', async () => {
    const emitter = new EventEmitter<SocketEvents>();
    const errors: TransportError[] = [];
    emitter.on('error', (e) => errors.push(e));
    const inbox = new Inbox(emitter, 3, 1000);
    for (let i = 0; i < 5; i++) inbox.deliver(msg(`p${i}`, 10));
    expect(inbox.queuedMessages).toBe(3);
    expect(inbox.queuedBytes).toBe(30);
    expect(inbox.dropped).toBe(2);
    expect(inbox.droppedBytes).toBe(20);
    inbox.deliver(msg('big', 990));
    // 990 + the two newest 10-byte messages would be 1010: one more goes.
    expect(inbox.queuedBytes).toBeLessThanOrEqual(1000);
    expect(inbox.queuedMessages).toBe(2);
    expect(errors.map((e) => e.code)).toEqual(['receive-queue-full']);
    expect(errors[0]?.message).toMatch(/oldest from p0/);
    // Reading again makes the next overflow news.
    expect((await inbox.receive(undefined))?.peer).toBe('p4');
    for (let i = 0; i < 3; i++) inbox.deliver(msg('q', 10));
    expect(errors).toHaveLength(2);
  });

  it('runs the hooks there were when a message arrived, whatever they add or remove meanwhile', () => {
    const inbox = new Inbox(new EventEmitter<SocketEvents>(), 10, 1000);
    const seen: string[] = [];
    let removeB = (): void => {};
    const removeA = inbox.addHook((m) => {
      seen.push(`a:${m.peer}`);
      removeA(); // itself
      removeB(); // one not run yet for this message: still runs for it
      inbox.addHook((n) => seen.push(`c:${n.peer}`)); // runs from the next message on
    });
    removeB = inbox.addHook((m) => seen.push(`b:${m.peer}`));
    inbox.deliver(msg('1', 1));
    inbox.deliver(msg('2', 1));
    expect(seen).toEqual(['a:1', 'b:1', 'c:2']);
    expect(inbox.queuedMessages).toBe(0);
  });

  it('gives messages to hooks and listeners instead of queueing them', () => {
    const emitter = new EventEmitter<SocketEvents>();
    const inbox = new Inbox(emitter, 10, 1000);
    const seen: string[] = [];
    const remove = inbox.addHook((m) => seen.push(m.peer));
    inbox.deliver(msg('a', 1));
    remove();
    inbox.deliver(msg('b', 1));
    expect(seen).toEqual(['a']);
    expect(inbox.queuedMessages).toBe(1);
  });

  it('answers waiting receive() calls at once, and null after close', async () => {
    const inbox = new Inbox(new EventEmitter<SocketEvents>(), 10, 1000);
    const waiting = inbox.receive(undefined);
    inbox.deliver(msg('a', 1));
    expect((await waiting)?.peer).toBe('a');
    expect(inbox.queuedMessages).toBe(0);
    const late = inbox.receive(undefined);
    inbox.close();
    expect(await late).toBeNull();
    expect(await inbox.receive(undefined)).toBeNull();
  });
});

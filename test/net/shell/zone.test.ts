import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseCommand } from '../../../source/chat/commands/index.js';
import { MultiHolepunchSocket } from '../../../source/net/shell/socket.js';
import { PacketType } from '../../../source/net/wire/packet.js';

/**
 * Security issue item 13: a link-local IPv6 address is only reachable on its
 * interface, so the zone the user gives (`[fe80::1%lo]:9`) must reach the
 * kernel with the address (RFC 4007 §11); the wire formats never carry one.
 * The user path end to end: the chat's /add as parsed, the socket's
 * addPeers, the dial, and the address dgram is asked to send to. Nothing
 * leaves the machine: sends to fe80::/10 are caught before dgram (tests talk
 * only to loopback), everything else goes through.
 */

const open: MultiHolepunchSocket[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of open.splice(0)) await s.close();
});

describe('a link-local peer keeps its zone from the command line to the socket', () => {
  it('/add bob [fe80::1%lo]:9 dials fe80::1%lo, and the peer list shows the zone', async () => {
    const caught: { address: string; port: number; type: number }[] = [];
    const send = dgram.Socket.prototype.send;
    vi.spyOn(dgram.Socket.prototype, 'send').mockImplementation(function (
      this: dgram.Socket,
      ...args: unknown[]
    ) {
      const [msg, port, address, cb] = args as [
        Buffer,
        number,
        string,
        ((err: Error | null, bytes: number) => void) | undefined,
      ];
      if (typeof address === 'string' && /^fe[89ab]/i.test(address)) {
        caught.push({ address, port, type: msg[1]! });
        queueMicrotask(() => cb?.(null, msg.length));
        return;
      }
      return (send as (...a: unknown[]) => void).apply(this, args);
    });
    const alice = await MultiHolepunchSocket.bind({ host: '::1', nick: 'alice' });
    open.push(alice);
    const action = parseCommand('/add bob [fe80::1%lo]:9');
    expect(action).toEqual({ type: 'add', nick: 'bob', address: '[fe80::1%lo]:9' });
    if (action.type !== 'add' || action.address === undefined) throw new Error('not an add');
    await alice.addPeers({ bob: action.address });
    await vi.waitFor(() => expect(caught.length).toBeGreaterThan(0), { timeout: 5000 });
    expect(caught[0]).toEqual({ address: 'fe80::1%lo', port: 9, type: PacketType.Init });
    expect(caught.every((c) => c.address === 'fe80::1%lo')).toBe(true);
    expect(alice.peers().find((p) => p.nick === 'bob')?.address).toBe('[fe80::1%lo]:9');
  });
});

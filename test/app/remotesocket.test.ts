import { afterEach, describe, expect, it } from 'vitest';
import { RemoteSocket } from '../../source/app/remotesocket.js';
import { fromWireError, ownBytes, toWireError } from '../../source/app/workerprotocol.js';
import type { ChatSocket } from '../../source/chat/controller.js';
import {
  type Message,
  MultiHolepunchSocket,
  type PeerInfo,
  TransportError,
  UsageError,
} from '../../source/index.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';

const HOST = '127.0.0.1';
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});

async function remote(nick: string): Promise<RemoteSocket> {
  const s = await RemoteSocket.bind({ nick, host: HOST, port: 0 });
  opened.push(s);
  return s;
}

async function plain(nick: string): Promise<MultiHolepunchSocket> {
  const s = await MultiHolepunchSocket.bind({ nick, host: HOST, port: 0 });
  opened.push(s);
  return s;
}

function connected(s: RemoteSocket, nick: string): Promise<PeerInfo> {
  const now = s.peers().find((p) => p.nick === nick && p.state.kind === 'connected');
  if (now) return Promise.resolve(now);
  return new Promise((resolve) => {
    const on = (p: PeerInfo) => {
      if (p.nick === nick && p.state.kind === 'connected') {
        s.off('peer', on);
        resolve(p);
      }
    };
    s.on('peer', on);
  });
}

describe('protocol', () => {
  it('re-creates errors with their class and code', () => {
    const t = fromWireError(toWireError(new TransportError('late', 'timeout')));
    expect(t).toBeInstanceOf(TransportError);
    expect((t as TransportError).code).toBe('timeout');
    expect(t.message).toBe('late');
    const u = fromWireError(toWireError(new UsageError('bad nick')));
    expect(u).toBeInstanceOf(UsageError);
    expect(u.message).toBe('bad nick');
    const e = fromWireError(toWireError(new RangeError('x')));
    expect(e).not.toBeInstanceOf(UsageError);
    expect(e.name).toBe('RangeError');
  });

  it('clones only the bytes of a view, not the buffer under it', () => {
    const pool = Buffer.alloc(8192, 7);
    const view = pool.subarray(100, 110);
    const own = ownBytes(view);
    expect(own.buffer.byteLength).toBe(10);
    expect(Buffer.from(own).equals(view)).toBe(true);
  });
});

describe('RemoteSocket', () => {
  it('serves the chat and the screen (compile-time: ChatSocket and TransportView)', async () => {
    const a = await remote('alice');
    const chat: ChatSocket = a;
    const view: TransportView = a;
    expect(chat.fingerprint).toMatch(/\S/);
    expect(view.stats().fingerprint).toBe(a.fingerprint);
    expect(a.localAddress().address).toBe(HOST);
    expect(a.localAddress().port).toBeGreaterThan(0);
  });

  it('answers requests, sync calls and events across the thread', async () => {
    const a = await remote('alice');
    const b = await plain('bob');
    b.addHook(() => {});
    const peerEvents: string[] = [];
    a.on('peer', (p, c) => peerEvents.push(`${p.nick}:${c}`));
    await a.addPeers({ bob: `${HOST}:${b.localAddress().port}` });
    // The reply carries the peers as of then: bob is known at once.
    expect(a.peers().map((p) => p.nick)).toContain('bob');
    await connected(a, 'bob');
    await b.waitForPeer('alice', { timeout: 5000 });
    expect(peerEvents).toContain('bob:connected');
    // Synchronous calls answer synchronously, from the worker's socket.
    expect(a.pinnedFingerprint('bob')).toBe(b.fingerprint);
    expect(a.isBlocked(b.fingerprint)).toBe(false);
    expect(a.invite()).toMatch(/\S/);

    // Incoming: a Buffer holding exactly its bytes.
    const got = new Promise<Message>((resolve) => a.once('message', resolve));
    await b.send('hello from bob', { recipient: 'alice' });
    const m = await got;
    expect(Buffer.isBuffer(m.content)).toBe(true);
    expect(m.content.toString()).toBe('hello from bob');
    expect(m.content.buffer.byteLength).toBe(m.content.length);
    expect(m.peer).toBe('bob');

    // Outgoing: a slice of a larger buffer arrives as itself.
    const heard = new Promise<Message>((resolve) => b.once('message', resolve));
    await a.send(Buffer.from('xxhello from alicexx').subarray(2, 18), { recipient: 'bob' });
    expect((await heard).content.toString()).toBe('hello from alice');

    // Stats are pushed at the socket's interval, with the peers.
    const stats = await new Promise<number>((resolve) =>
      a.once('stats', (s) => resolve(s.datagramsIn)),
    );
    expect(stats).toBeGreaterThan(0);
    expect(a.stats().datagramsIn).toBe(stats);
  });

  it('throws and rejects with the class the socket used', async () => {
    const a = await remote('alice');
    await expect(a.send('x', { recipient: 'nobody' })).rejects.toBeInstanceOf(UsageError);
    await expect(a.addPeers({ 'no spaces allowed': `${HOST}:1` })).rejects.toBeInstanceOf(
      UsageError,
    );
    expect(() => a.block('not a fingerprint')).toThrow(UsageError);
    expect(() => a.removePeer('nobody')).toThrow(UsageError);
    await expect(a.trustNewKey('nobody')).rejects.toThrow('unknown peer "nobody"');
  });

  it('fails to bind as the socket does: a busy port is a UsageError with the same text', async () => {
    const b = await plain('bob');
    const port = b.localAddress().port;
    const direct = await MultiHolepunchSocket.bind({ nick: 'carol', host: HOST, port }).then(
      () => undefined,
      (err: Error) => err,
    );
    const viaWorker = await RemoteSocket.bind({ nick: 'carol', host: HOST, port }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(direct).toBeInstanceOf(UsageError);
    expect(viaWorker).toBeInstanceOf(UsageError);
    expect(viaWorker?.message).toBe(direct?.message);
  });

  it('closes: the worker ends, and later calls are refused as the socket refuses them', async () => {
    const a = await remote('alice');
    let errors = 0;
    a.on('error', () => errors++);
    let exited = false;
    // The worker thread is gone once close() resolves.
    (a as unknown as { worker: { once(e: 'exit', f: () => void): void } }).worker.once(
      'exit',
      () => {
        exited = true;
      },
    );
    await a.close();
    await a.close();
    expect(exited).toBe(true);
    const direct = await plain('bob');
    await direct.close();
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err as Error;
      }
      return undefined;
    };
    const want = refusal(() => direct.isBlocked('x'));
    expect(want).toBeInstanceOf(UsageError);
    await expect(a.send('x')).rejects.toBeInstanceOf(UsageError);
    expect(refusal(() => a.removePeer('x'))?.message).toBe('socket is closed');
    expect(errors).toBe(0);
  });

  it('bounds what waits for the main thread: past the limit, discarded, counted, reported', async () => {
    const a = await RemoteSocket.bind(
      { nick: 'alice', host: HOST, port: 0 },
      { messages: 10, bytes: 1 << 20 },
    );
    opened.push(a);
    const b = await remote('bob');
    await a.addPeers({ bob: `${HOST}:${b.localAddress().port}` });
    await connected(a, 'bob');
    await connected(b, 'alice');
    const got: Message[] = [];
    a.on('message', (m) => got.push(m));
    const errors: TransportError[] = [];
    a.on('error', (e) => errors.push(e));

    // Alice's side, fresh: a synchronous call brings the worker's stats along.
    const aliceDropped = () => {
      a.isBlocked(b.fingerprint);
      return a.stats().queueDropped;
    };
    const sends = Array.from({ length: 50 }, (_, i) => b.send(`m${i}`, { recipient: 'alice' }));
    // Nothing is read on this thread (busy, as a long render would be) until
    // alice's worker has taken the whole burst: 10 held, 40 discarded. (Bob's
    // packet counts would not do: a warm-up PING can be sent and acknowledged
    // before the burst leaves.)
    for (let i = 0; i < 200; i++) {
      const until = performance.now() + 50;
      while (performance.now() < until) {
        // Busy.
      }
      if (aliceDropped() >= 40) break;
    }
    await Promise.all(sends);
    // What the worker held comes in its own post, which may follow a stats
    // tick: wait for the ten, then two stats rounds more to see that no
    // eleventh follows (every send was acknowledged, so none is on its way).
    while (got.length < 10)
      await new Promise<void>((resolve) => a.once('message', () => resolve()));
    for (let i = 0; i < 2; i++)
      await new Promise<void>((resolve) => a.once('stats', () => resolve()));

    const dropped = a.stats().queueDropped;
    expect(got.length).toBe(10);
    expect(dropped).toBe(40);
    expect(errors).toHaveLength(1);
    expect(errors.every((e) => e.code === 'receive-queue-full')).toBe(true);
    // Once read (the main thread says so after its turn), the room is back.
    await new Promise<void>((resolve) => a.once('stats', () => resolve()));
    const next = new Promise<Message>((resolve) => a.once('message', resolve));
    await b.send('after', { recipient: 'alice' });
    expect((await next).content.toString()).toBe('after');
  });

  it('fails every waiting call, and says so once, when the worker dies', async () => {
    const a = await remote('alice');
    const errors: Error[] = [];
    a.on('error', (e) => errors.push(e));
    const pending = a.addPeers({ bob: `${HOST}:9` });
    await (a as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await pending.then(
      () => undefined,
      () => undefined,
    );
    await expect(a.send('x')).rejects.toBeInstanceOf(TransportError);
    expect(() => a.pinnedFingerprint('bob')).toThrow(TransportError);
    expect(errors).toHaveLength(1);
    expect((errors[0] as TransportError).code).toBe('socket');
  });
});

describe('RemoteSocket: discovery and relays across the worker', () => {
  it('bind options for discovery cross; a lookup by key shows in stats() as soon as addPeers resolves', async () => {
    // A private DHT whose only bootstrap node never answers: nothing leaves 127.0.0.1.
    const { createSocket } = await import('node:dgram');
    const dead = createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, HOST, () => r()));
    try {
      const s = await RemoteSocket.bind({
        nick: 'alice',
        host: HOST,
        port: 0,
        dht: { bootstrap: [`${HOST}:${dead.address().port}`], publish: false },
        mdns: false,
      });
      opened.push(s);
      expect(s.stats().discovery).toMatchObject({ dht: true, mdns: false });
      const fp = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';
      await s.addPeers({ carol: fp });
      // No stats tick waited for: the reply carried them.
      expect(s.stats().discovery?.lookingFor).toHaveProperty('carol', undefined);
      expect(Object.keys(s.stats().discovery?.lookingFor ?? {})).toEqual(['carol']);
      s.removePeer('carol');
      expect(s.stats().discovery?.lookingFor).toEqual({});
    } finally {
      dead.close();
    }
  });

  it('a relay that cannot be used is refused at bind as the library refuses it', async () => {
    await expect(
      RemoteSocket.bind({
        nick: 'alice',
        host: HOST,
        port: 0,
        relays: [{ urls: 'turns:relay.example.org', username: 'u', credential: 'p' }],
      }),
    ).rejects.toBeInstanceOf(UsageError);
  });
});

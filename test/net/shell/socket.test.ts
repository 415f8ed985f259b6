import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TransportError, UsageError } from '../../../source/net/core/errors.js';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import {
  type BindOptions,
  type Message,
  MultiHolepunchSocket,
} from '../../../source/net/shell/socket.js';

/**
 * No test leaves 127.0.0.0/8: name lookups go to this resolver, which knows
 * only localhost (answered by the system from /etc/hosts) and fails any other
 * name with ENOTFOUND without asking anyone.
 */
const lookups: string[] = [];
vi.mock('node:dns/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns/promises')>();
  const lookup = (async (host: string, opts: unknown) => {
    lookups.push(host);
    if (host === 'localhost') return real.lookup(host, opts as { all: true });
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  }) as typeof real.lookup;
  return { ...real, default: { ...real, lookup }, lookup };
});

/** Real UDP sockets, loopback only. */
const open: MultiHolepunchSocket[] = [];
async function bind(opts: BindOptions): Promise<MultiHolepunchSocket> {
  const s = await MultiHolepunchSocket.bind(opts);
  open.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function at(s: MultiHolepunchSocket): string {
  const a = s.localAddress();
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

async function trio(host: string) {
  const alice = await bind({ host, nick: 'alice' });
  const bob = await bind({ host, nick: 'bob' });
  const carol = await bind({ host, nick: 'carol' });
  await bob.addPeers({ alice: at(alice) });
  await carol.addPeers({ alice: at(alice), bob: at(bob) });
  await bob.waitForPeer('alice', { timeout: 5000 });
  await carol.waitForPeer('alice', { timeout: 5000 });
  await carol.waitForPeer('bob', { timeout: 5000 });
  await alice.waitForPeer('bob', { timeout: 5000 });
  await alice.waitForPeer('carol', { timeout: 5000 });
  await bob.waitForPeer('carol', { timeout: 5000 });
  return { alice, bob, carol };
}

for (const host of ['127.0.0.1', '::1']) {
  describe(`MultiHolepunchSocket on ${host}`, () => {
    it('broadcasts to every connected peer but never to itself, and unicasts to one', async () => {
      const { alice, bob, carol } = await trio(host);
      await alice.send('hi all');
      const [b, c] = await Promise.all([
        bob.receive({ timeout: 2000 }),
        carol.receive({ timeout: 2000 }),
      ]);
      expect(b?.content.toString()).toBe('hi all');
      expect(b?.peer).toBe('alice');
      expect(c?.content.toString()).toBe('hi all');
      expect(await alice.receive({ timeout: 200 })).toBeNull();

      await alice.send(Buffer.from('hi bob'), { recipient: 'bob' });
      expect((await bob.receive({ timeout: 2000 }))?.content.toString()).toBe('hi bob');
      expect(await carol.receive({ timeout: 200 })).toBeNull();

      await carol.send('hi you two', { recipient: ['alice', 'bob'], timeout: 5000 });
      expect((await alice.receive({ timeout: 2000 }))?.peer).toBe('carol');
      expect((await bob.receive({ timeout: 2000 }))?.peer).toBe('carol');
    });

    it('lists peers with fingerprints and live stats', async () => {
      const { alice, bob, carol } = await trio(host);
      await alice.send('x');
      const list = alice.peers();
      expect(list.map((p) => p.nick).sort()).toEqual(['bob', 'carol']);
      const b = list.find((p) => p.nick === 'bob')!;
      expect(b.fingerprint).toBe(bob.fingerprint);
      expect(b.state.kind).toBe('connected');
      expect(b.stats.smoothedRtt).toBeGreaterThan(0);
      expect(b.stats.packetsSent).toBeGreaterThan(0);
      expect(b.stats.bytesReceived).toBeGreaterThan(0);
      expect(b.stats.path).toBe('direct');
      expect(b.stats.lastSeen).toBeGreaterThan(Date.now() - 60_000);
      expect(carol.peers().find((p) => p.nick === 'alice')?.pinned).toBe(true);
      expect(alice.stats().receiveBufferSize).toBeGreaterThan(0);
    });

    it('removePeer stops traffic to that peer and rejects its pending sends', async () => {
      const { alice, bob } = await trio(host);
      bob.removePeer('alice');
      expect(bob.peers().map((p) => p.nick)).toEqual(['carol']);
      await expect(bob.send('x', { recipient: 'alice' })).rejects.toThrow(UsageError);
      // Alice hears the CLOSE and shows bob as disconnected.
      await expect
        .poll(() => alice.peers().find((p) => p.nick === 'bob')?.state.kind, { timeout: 3000 })
        .toBe('disconnected');
    });
  });
}

describe('MultiHolepunchSocket API', () => {
  it('rejects an unknown recipient before sending anything', async () => {
    const { alice, bob } = await trio('127.0.0.1');
    await expect(alice.send('x', { recipient: ['bob', 'nobody'] })).rejects.toThrow(
      /unknown peer: nobody/,
    );
    expect(await bob.receive({ timeout: 300 })).toBeNull();
  });

  it('checks known recipients without building a list per send (the list only names the unknown)', async () => {
    const { alice, bob } = await trio('127.0.0.1');
    const filter = vi.spyOn(Array.prototype, 'filter');
    let sent: Promise<void>;
    try {
      sent = alice.send('x', { recipient: 'bob' });
      expect(filter).not.toHaveBeenCalled();
    } finally {
      filter.mockRestore();
    }
    await sent;
    expect((await bob.receive({ timeout: 3000 }))?.content.toString()).toBe('x');
  });

  it('close() ends sessions, wakes waiters and refuses further use', async () => {
    const { alice, bob } = await trio('127.0.0.1');
    const waiting = alice.receive();
    const iterating = (async () => {
      const seen: Message[] = [];
      for await (const m of alice) seen.push(m);
      return seen;
    })();
    await alice.close();
    expect(await waiting).toBeNull();
    expect(await iterating).toEqual([]);
    await expect(alice.send('x')).rejects.toThrow(/closed/);
    await expect(alice.addPeers({ x: '127.0.0.1:1' })).rejects.toThrow(/closed/);
    await alice.close(); // idempotent
    // Bob hears the CLOSE at once instead of waiting for the idle timeout.
    await expect
      .poll(() => bob.peers().find((p) => p.nick === 'alice')?.state.kind, { timeout: 3000 })
      .toBe('disconnected');
  });

  it('a message received just before the receiver closes is acknowledged by its CLOSE', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice');
    alice.addHook(() => {
      void alice.close();
    });
    // Resolves (instead of rejecting at its timeout) only if acknowledged.
    await expect(
      bob.send('last words', { recipient: 'alice', timeout: 4000 }),
    ).resolves.toBeUndefined();
  });

  it('receive() times out with null at its timeout, not before', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    // Only timers are faked (the socket stays real): the timeout runs on the
    // fake clock, so the test asserts when it fires without reading time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let got: Message | null | undefined;
      const pending = alice.receive({ timeout: 100 }).then((m) => {
        got = m;
      });
      await vi.advanceTimersByTimeAsync(99);
      expect(got).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await pending;
      expect(got).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('send() to a silent peer rejects after its timeout, naming who did not acknowledge', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const ghost = await bind({ host: '127.0.0.1', nick: 'ghost' });
    const ghostAddr = at(ghost);
    await ghost.close();
    await alice.addPeers({ ghost: ghostAddr });
    const err = await alice
      .send('anyone?', { recipient: 'ghost', timeout: 300 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(String(err)).toMatch(/ghost/);
    // The reason is worded as everywhere else (describeState, the chat's wording too).
    await expect(alice.waitForPeer('ghost', { timeout: 200 })).rejects.toThrow(
      /ghost did not connect within 200 ms \((connecting|unreachable)/,
    );
  });

  it('hooks and message listeners take messages instead of the receive queue', async () => {
    const { alice, bob } = await trio('127.0.0.1');
    const hooked: Message[] = [];
    const remove = bob.addHook((m) => hooked.push(m));
    await alice.send('one', { recipient: 'bob' });
    await expect.poll(() => hooked.length).toBe(1);
    expect(await bob.receive({ timeout: 100 })).toBeNull();
    remove();
    await alice.send('two', { recipient: 'bob' });
    expect((await bob.receive({ timeout: 2000 }))?.content.toString()).toBe('two');
    expect(hooked).toHaveLength(1);
    expect(hooked[0]?.timestamp).toBeGreaterThan(Date.now() - 10_000);
  });

  it('bounds the receive() queue in bytes: the oldest acknowledged messages are dropped, counted and reported once', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice', receiveQueueBytes: 300 * 1024 });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice', { timeout: 5000 });
    const errors: TransportError[] = [];
    alice.on('error', (e) => errors.push(e));
    const size = 100 * 1024;
    // Each is acknowledged (delivered to alice's transport) before the next goes.
    for (let i = 0; i < 10; i++) {
      await bob.send(Buffer.alloc(size, i), { recipient: 'alice', timeout: 10_000 });
    }
    await expect.poll(() => alice.stats().queueDropped).toBe(7);
    const st = alice.stats();
    expect(st.queueDroppedBytes).toBe(7 * size);
    expect(st.queuedMessages).toBe(3);
    expect(st.queuedBytes).toBe(3 * size);
    // One error for the whole overflow, naming what happened.
    const full = errors.filter((e) => e.code === 'receive-queue-full');
    expect(full).toHaveLength(1);
    expect(full[0]?.message).toMatch(/oldest from bob/);
    // The newest three survive, in order.
    for (const i of [7, 8, 9]) expect((await alice.receive({ timeout: 1000 }))?.content[0]).toBe(i);
    expect(alice.stats().queuedBytes).toBe(0);
    // Reading re-arms the report: the next overflow is news again.
    for (let i = 0; i < 4; i++) {
      await bob.send(Buffer.alloc(size, i), { recipient: 'alice', timeout: 10_000 });
    }
    await expect.poll(() => alice.stats().queueDropped).toBe(8);
    expect(errors.filter((e) => e.code === 'receive-queue-full')).toHaveLength(2);
  });

  it('refuses a negative receive queue byte bound', async () => {
    await expect(
      MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice', receiveQueueBytes: -1 }),
    ).rejects.toBeInstanceOf(UsageError);
  });

  it('async iteration yields messages in order', async () => {
    const { alice, bob } = await trio('127.0.0.1');
    const sent = Array.from({ length: 5 }, (_, i) => alice.send(`m${i}`, { recipient: 'bob' }));
    const got: string[] = [];
    for await (const m of bob) {
      got.push(m.content.toString());
      if (got.length === 5) break;
    }
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await Promise.all(sent);
  });

  it('resolves hostnames', async () => {
    lookups.length = 0;
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    await bob.addPeers({ alice: `localhost:${alice.localAddress().port}` });
    await bob.waitForPeer('alice', { timeout: 5000 });
    await expect(bob.addPeers({ x: 'no-such-host.invalid:1' })).rejects.toThrow(
      'cannot resolve "no-such-host.invalid": ENOTFOUND',
    );
    expect(lookups).toEqual(['localhost', 'no-such-host.invalid']);
    await expect(bob.addPeers({ x: '127.0.0.1' })).rejects.toThrow(UsageError);
    await expect(bob.addPeers({ 'bad nick': '127.0.0.1:1' })).rejects.toThrow(/bad nickname/);
  });

  it('shows a colliding stranger nick with a fingerprint suffix', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const bob1 = await bind({ host: '127.0.0.1', nick: 'bob' });
    const bob2 = await bind({ host: '127.0.0.1', nick: 'bob' });
    await bob1.addPeers({ alice: at(alice) });
    await bob1.waitForPeer('alice');
    await bob2.addPeers({ alice: at(alice) });
    await bob2.waitForPeer('alice');
    await expect.poll(() => alice.peers().length).toBe(2);
    const nicks = alice
      .peers()
      .map((p) => p.nick)
      .sort();
    expect(nicks[0]).toBe('bob');
    expect(nicks[1]).toBe(`bob-${bob2.fingerprint.slice(0, 8)}`);
    await alice.send('to the second bob', { recipient: nicks[1] });
    expect((await bob2.receive({ timeout: 2000 }))?.content.toString()).toBe('to the second bob');
    expect(await bob1.receive({ timeout: 200 })).toBeNull();
  });

  it('refuses a busy port with a UsageError', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    await expect(
      MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'x', port: alice.localAddress().port }),
    ).rejects.toThrow(/already in use/);
  });

  it('refuses to connect when both sides chose different ciphers, saying why', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice', cipher: 'aes-256-gcm' });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    const errors: string[] = [];
    bob.on('error', (e) => errors.push(e.message));
    await bob.addPeers({ alice: at(alice) });
    await expect(bob.waitForPeer('alice', { timeout: 1000 })).rejects.toThrow(
      /aes-256-gcm.*chacha20-poly1305/,
    );
    expect(errors.join('\n')).toMatch(/both sides must choose the same cipher/);
  });

  it('works with AES-256-GCM on both sides', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice', cipher: 'aes-256-gcm' });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob', cipher: 'aes-256-gcm' });
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice');
    await bob.send('gcm', { recipient: 'alice' });
    expect((await alice.receive({ timeout: 2000 }))?.content.toString()).toBe('gcm');
  });
});

describe('identity, trust and restarts over real sockets', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps the identity in a 0600 file and pins names in the trust store', async () => {
    dir = await mkdtemp(join(tmpdir(), 'srmudp-'));
    const alice = await bind({
      host: '127.0.0.1',
      nick: 'alice',
      identityPath: join(dir, 'alice.key'),
    });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob', trustStore: join(dir, 'trust.json') });
    if (process.platform !== 'win32')
      expect((await stat(join(dir, 'alice.key'))).mode & 0o777).toBe(0o600);
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice');
    await expect
      .poll(
        async () =>
          JSON.parse(await readFile(join(dir, 'trust.json'), 'utf8').catch(() => '{}')).pins?.alice,
      )
      .toBe(alice.fingerprint);
    const key = await readFile(join(dir, 'alice.key'), 'utf8');
    expect(key).toContain('"version": 1');
    // Deleted while bound: keepIdentityFile writes the very same key back.
    expect(await alice.keepIdentityFile()).toBe(false);
    await rm(join(dir, 'alice.key'));
    expect(await alice.keepIdentityFile()).toBe(true);
    expect(await readFile(join(dir, 'alice.key'), 'utf8')).toBe(key);
    // A socket bound without an identity file has none to keep.
    expect(await bob.keepIdentityFile()).toBe(false);
  });

  it('refuses a different key for a pinned name, saying what happened', async () => {
    dir = await mkdtemp(join(tmpdir(), 'srmudp-'));
    const trustStore = join(dir, 'trust.json');
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const port = alice.localAddress().port;
    const bob = await bind({ host: '127.0.0.1', nick: 'bob', trustStore });
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice');
    await bob.close();
    await alice.close();
    // Someone else now answers at alice's address.
    await bind({ host: '127.0.0.1', port, nick: 'alice', identity: generateIdentity() });
    const bob2 = await bind({ host: '127.0.0.1', nick: 'bob', trustStore });
    const errors: TransportError[] = [];
    bob2.on('error', (e) => errors.push(e));
    await bob2.addPeers({ alice: `127.0.0.1:${port}` });
    await expect(bob2.waitForPeer('alice', { timeout: 1500 })).rejects.toThrow(
      /KEY CHANGED: expected/,
    );
    const info = bob2.peers()[0]!;
    expect(info.state.kind).toBe('key-mismatch');
    expect(
      errors.some(
        (e) =>
          e.code === 'key-mismatch' &&
          /answered with key \w{52}, but alice is pinned to \w{52}: refused/.test(e.message),
      ),
    ).toBe(true);
  });

  it('a peer restarted on the same port with the same identity is talking again', async () => {
    const identity = generateIdentity();
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    let bob = await bind({ host: '127.0.0.1', nick: 'bob', identity });
    const port = bob.localAddress().port;
    await bob.addPeers({ alice: at(alice) });
    await bob.waitForPeer('alice');
    await alice.waitForPeer('bob');
    await bob.close();
    open.splice(open.indexOf(bob), 1);
    const hsBefore = alice.stats().handshakePackets;
    bob = await bind({
      host: '127.0.0.1',
      port,
      nick: 'bob',
      identity,
      peers: { alice: at(alice) },
    });
    await bob.waitForPeer('alice');
    await alice.send('welcome back', { recipient: 'bob', timeout: 5000 });
    expect((await bob.receive({ timeout: 2000 }))?.content.toString()).toBe('welcome back');
    // Bounded by operations, not wall-clock time: one handshake (INIT and
    // FINISH at alice) plus at most the INIT re-sends the dial schedule makes
    // in its first 5 s (0, 0.5, 1.5, 3.5 s: three), and nothing dropped.
    const handshakes = alice.stats().handshakePackets - hsBefore;
    expect(handshakes).toBeGreaterThanOrEqual(2);
    expect(handshakes).toBeLessThanOrEqual(5);
    expect(Object.values(alice.stats().dropped).every((n) => n === 0)).toBe(true);
    expect(alice.peers().map((p) => p.nick)).toEqual(['bob']);
  });
});

describe('invite codes', () => {
  it('connects with a code and pins the key it carries', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    const code = alice.invite();
    expect(code).toMatch(/^srmudp1:[A-Za-z0-9_-]+$/);
    await bob.addPeers({ alice: code });
    const info = bob.peers()[0]!;
    expect(info.fingerprint).toBe(alice.fingerprint); // pinned before any packet
    await bob.waitForPeer('alice');
    await bob.send('via invite', { recipient: 'alice' });
    expect((await alice.receive({ timeout: 2000 }))?.content.toString()).toBe('via invite');
  });

  it('refuses an impostor at the invited address, and bad codes clearly', async () => {
    const alice = await bind({ host: '127.0.0.1', nick: 'alice' });
    const code = alice.invite();
    const port = alice.localAddress().port;
    await alice.close();
    await bind({ host: '127.0.0.1', port, nick: 'alice' }); // a different identity
    const bob = await bind({ host: '127.0.0.1', nick: 'bob' });
    await bob.addPeers({ alice: code });
    await expect(bob.waitForPeer('alice', { timeout: 1500 })).rejects.toThrow(
      /KEY CHANGED: expected/,
    );
    await expect(bob.addPeers({ x: 'srmudp1:!!' })).rejects.toThrow(/bad invite code/);
    await expect(bob.addPeers({ y: `${code.slice(0, 20)}` })).rejects.toThrow(/bad invite code/);
    await expect(
      bob.addPeers({ alice: (await bind({ host: '127.0.0.1', nick: 'z' })).invite() }),
    ).rejects.toThrow(/pinned to key/);
  });
});

import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { HOSTILE_KINDS, hostileDatagram } from '../support/hostile.js';
import { Rng } from '../support/rng.js';
import { UdpProxy } from '../support/udpproxy.js';

/**
 * Hostile datagrams against a live socket while two peers chat: random bytes,
 * truncated and bit-flipped real packets, replays, all from stranger
 * addresses. (About ten seconds on these machines.)
 */
const TOTAL = 1_000_000;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('fuzzing a live socket', () => {
  it(`${TOTAL.toLocaleString('en')} hostile datagrams: no crash, chat undisturbed, every drop counted by reason`, async () => {
    const rng = new Rng(99);
    const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
    cleanup.push(() => alice.close());
    const proxy = await UdpProxy.start(
      { address: '127.0.0.1', port: alice.localAddress().port },
      1,
    );
    cleanup.push(() => proxy.close());
    const recorded: Buffer[] = [];
    proxy.tap = (d, towardsTarget) => {
      if (towardsTarget && recorded.length < 2000) recorded.push(Buffer.from(d));
    };
    const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob' });
    cleanup.push(() => bob.close());
    await bob.addPeers({ alice: proxy.address });
    await bob.waitForPeer('alice');
    const got: Message[] = [];
    alice.addHook((m) => got.push(m));
    for (let i = 0; i < 20; i++) await bob.send(`warm ${i}`, { recipient: 'alice' });

    const attackers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const s = dgram.createSocket('udp4');
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
        return s;
      }),
    );
    cleanup.push(async () => {
      for (const s of attackers) s.close();
    });
    const port = alice.localAddress().port;
    let chatSent = 0;
    const chat: Promise<void>[] = [];
    for (let i = 0; i < TOTAL; i++) {
      const base = recorded[rng.int(recorded.length)]!;
      const d = hostileDatagram(rng, base, HOSTILE_KINDS[i % 4]!);
      attackers[i % attackers.length]!.send(d, port, '127.0.0.1');
      if (i % 64 === 63) {
        // Yield so the victim reads, and keep the chat going meanwhile.
        await new Promise((r) => setImmediate(r));
        if (i % 8192 === 8127)
          chat.push(bob.send(`chat ${chatSent++}`, { recipient: 'alice', timeout: 60_000 }));
      }
    }
    await Promise.all(chat);
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `warm ${i}`),
      ...Array.from({ length: chatSent }, (_, i) => `chat ${i}`),
    ];
    expect(got.map((m) => m.content.toString())).toEqual(expected);
    expect(alice.peers().map((p) => [p.nick, p.state.kind])).toEqual([['bob', 'connected']]);
    const stats = alice.stats();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    // The kernel may drop some under this load; every datagram that reached
    // us was bob's (authenticated), a handshake-layer packet (replayed INITs
    // are indistinguishable from new ones), STUN-shaped noise, or dropped and
    // counted by reason.
    const fromBob = alice.peers()[0]!.stats.packetsReceived;
    expect(stats.datagramsIn).toBeGreaterThan(TOTAL * 0.5);
    expect(stats.datagramsIn).toBe(dropped + fromBob + stats.handshakePackets + stats.stun);
    expect(stats.dropped.replay + stats.dropped.decrypt).toBeGreaterThan(0);
    expect(
      stats.dropped.truncated + stats.dropped.malformed + stats.dropped.version,
    ).toBeGreaterThan(0);
    console.log(`fuzz: ${TOTAL} sent, ${dropped} dropped by reason`, stats.dropped);
  }, 300_000);
});

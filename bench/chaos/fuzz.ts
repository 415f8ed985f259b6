/**
 * Hostile datagrams against a live socket while two peers chat, as
 * test/net/fuzz.test.ts: random bytes, truncated and bit-flipped real packets
 * and replays, from stranger addresses on 127.0.0.1. Measures where each
 * datagram went instead of asserting.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { DropCounts } from '../../source/net/core/endpoint.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { PacketType, WIRE_VERSION } from '../../source/net/wire/packet.js';
import { HOSTILE_KINDS, hostileDatagram } from '../../test/support/hostile.js';
import { Rng } from '../../test/support/rng.js';
import { UdpProxy } from '../../test/support/udpproxy.js';
import { kernelUdp } from '../figures.js';
import { contentKey, count, errorText, type ScenarioResult, Tally } from './report.js';
import type { Scope } from './scope.js';

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PacketType).map(([name, id]) => [id, name.toUpperCase()]),
);

export interface FuzzFigures {
  seed: number;
  tried: number;
  /** Hostile datagrams the socket handed to the endpoint (undefined if it could not be counted). */
  reached: number | undefined;
  /** Host-wide kernel UDP receive-buffer drops during the attack (Linux). */
  kernelDropped: number | undefined;
  dropped: DropCounts;
  droppedTotal: number;
  /** Accepted for processing as handshake-layer packets (replayed INITs look new). */
  handshakePackets: number;
  stun: number;
  /** Authenticated packets from bob during the attack. */
  fromPeer: number;
  /** datagramsIn − (dropped + fromPeer + handshake + stun): should be 0. */
  unaccounted: number;
  /** What the victim sent back to the attackers' sockets. */
  repliesToAttackers: { datagrams: number; bytes: number; byType: Record<string, number> };
  attackBytes: number;
  errorEvents: Record<string, number>;
  realMs: number;
}

export async function fuzz(
  scope: Scope,
  seed: number,
  total: number,
): Promise<{ result: ScenarioResult; figures: FuzzFigures }> {
  const rng = new Rng(seed);
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  scope.defer(() => alice.close());
  const errorEvents: Record<string, number> = {};
  alice.on('error', (e) => {
    errorEvents[e.code] = (errorEvents[e.code] ?? 0) + 1;
  });
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: alice.localAddress().port }, 1);
  scope.defer(() => proxy.close());
  const recorded: Buffer[] = [];
  proxy.tap = (d, towardsTarget) => {
    if (towardsTarget && recorded.length < 2000) recorded.push(Buffer.from(d));
  };
  const bob = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'bob' });
  scope.defer(() => bob.close());
  await bob.addPeers({ alice: proxy.address });
  await bob.waitForPeer('alice');
  const tally = new Tally();
  alice.addHook((m) => tally.see(m.peer === 'bob' ? contentKey(m.content) : `?${m.peer}`));
  for (let i = 0; i < 20; i++) {
    tally.expect('bob→alice', `warm ${i}`);
    await bob.send(`warm ${i}`, { recipient: 'alice' });
  }

  const attackers = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    }),
  );
  scope.defer(async () => {
    await Promise.all(attackers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });
  const replies = { datagrams: 0, bytes: 0, byType: {} as Record<string, number> };
  for (const s of attackers) {
    s.on('message', (d) => {
      replies.datagrams++;
      replies.bytes += d.length;
      const type = d[0] === WIRE_VERSION ? (TYPE_NAMES[d[1] ?? 0] ?? `type ${d[1]}`) : 'other';
      replies.byType[type] = (replies.byType[type] ?? 0) + 1;
    });
    s.on('error', () => {});
  }
  const attackerPorts = new Set(attackers.map((s) => s.address().port));

  // Count hostile datagrams where the socket hands them to the endpoint.
  let reached: number | undefined;
  const inner = alice as unknown as {
    onDatagram?: (data: Buffer, rinfo: dgram.RemoteInfo) => void;
  };
  const original = inner.onDatagram;
  if (typeof original === 'function') {
    reached = 0;
    inner.onDatagram = (data, rinfo) => {
      if (attackerPorts.has(rinfo.port)) reached = (reached ?? 0) + 1;
      original.call(alice, data, rinfo);
    };
  }

  const before = alice.stats();
  const fromBobBefore = alice.peers()[0]?.stats.packetsReceived ?? 0;
  const kernelBefore = kernelUdp();
  const port = alice.localAddress().port;
  const t0 = performance.now();
  let chatSent = 0;
  let attackBytes = 0;
  const chat: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const base = recorded[rng.int(recorded.length)]!;
    const d = hostileDatagram(rng, base, HOSTILE_KINDS[i % 4]!);
    attackBytes += d.length;
    attackers[i % attackers.length]!.send(d, port, '127.0.0.1');
    if (i % 64 === 63) {
      // Yield so the victim reads, and keep the chat going meanwhile.
      await new Promise((r) => setImmediate(r));
      if (i % 8192 === 8127) {
        const text = `chat ${chatSent++}`;
        tally.expect('bob→alice', text);
        chat.push(bob.send(text, { recipient: 'alice', timeout: 60_000 }));
      }
    }
    if (i % 100_000 === 99_999) scope.progress(`  ${count(i + 1)} datagrams sent`);
  }
  const settled = await Promise.allSettled(chat);
  // Let the last hostile datagrams drain from the kernel buffer.
  await new Promise((r) => setTimeout(r, 200));
  const realMs = performance.now() - t0;
  const kernelAfter = kernelUdp();
  const after = alice.stats();
  if (typeof original === 'function') inner.onDatagram = original;

  const dropped = { ...after.dropped };
  for (const k of Object.keys(dropped) as (keyof DropCounts)[]) dropped[k] -= before.dropped[k];
  const droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
  const fromPeer = (alice.peers()[0]?.stats.packetsReceived ?? 0) - fromBobBefore;
  const handshakePackets = after.handshakePackets - before.handshakePackets;
  const stun = after.stun - before.stun;
  const datagramsIn = after.datagramsIn - before.datagramsIn;
  const unaccounted = datagramsIn - (droppedTotal + fromPeer + handshakePackets + stun);

  const summary = tally.summary();
  const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected.length > 0)
    summary.problems.push(
      `${rejected.length} chat sends rejected (first: ${errorText(rejected[0]!.reason)})`,
    );
  const peers = alice.peers().map((p) => `${p.nick}:${p.state.kind}`);
  if (peers.join() !== 'bob:connected')
    summary.problems.push(`after the attack alice's peers are [${peers.join(', ')}]`);
  if (unaccounted !== 0)
    summary.problems.push(`${count(unaccounted)} datagrams not accounted for in stats`);
  return {
    result: {
      scenario: `chat during ${count(total)} hostile datagrams (real UDP)`,
      ...summary,
      realMs,
      timeOf: 'the whole attack',
      notes: [
        `seed ${seed}`,
        `${count(chatSent)} chat messages during the attack after 20 before it`,
        `alice's peers after: ${peers.join(', ')}`,
      ],
    },
    figures: {
      seed,
      tried: total,
      reached,
      kernelDropped:
        kernelBefore && kernelAfter
          ? kernelAfter.rcvbufErrors - kernelBefore.rcvbufErrors
          : undefined,
      dropped,
      droppedTotal,
      handshakePackets,
      stun,
      fromPeer,
      unaccounted,
      repliesToAttackers: replies,
      attackBytes,
      errorEvents,
      realMs,
    },
  };
}

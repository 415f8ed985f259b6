/**
 * Hostile datagrams against a live socket while two peers chat: random bytes,
 * truncated and bit-flipped real packets and replays, from stranger addresses
 * on 127.0.0.1. Used by test/net/fuzz.test.ts (which asserts) and `npm run
 * chaos` (which prints the same figures).
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { DropCounts } from '../../../source/net/core/endpoint.js';
import { MultiHolepunchSocket, type SocketStats } from '../../../source/net/shell/socket.js';
import { PacketType, WIRE_VERSION } from '../../../source/net/wire/packet.js';
import { HOSTILE_KINDS, hostileDatagram } from '../hostile.js';
import { Rng } from '../rng.js';
import { UdpProxy } from '../udpproxy.js';
import { type Scope, settle } from './scope.js';
import { type Counts, contentKey, Tally } from './tally.js';

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PacketType).map(([name, id]) => [id, name.toUpperCase()]),
);

/** Where every datagram alice read went, since she was bound (or over the attack). */
export interface Accounting {
  datagramsIn: number;
  dropped: DropCounts;
  droppedTotal: number;
  /** Authenticated packets from bob. */
  fromPeer: number;
  /** Accepted as handshake-layer packets (replayed INITs look new). */
  handshakePackets: number;
  stun: number;
  /** datagramsIn − (dropped + fromPeer + handshake + stun): should be 0. */
  unaccounted: number;
}

export interface FuzzFigures {
  seed: number;
  tried: number;
  /** Hostile datagrams the socket handed to the endpoint (undefined if it could not be counted). */
  reached: number | undefined;
  /** alice's whole life, handshake and chat included. */
  total: Accounting;
  /** The attack alone (from its first datagram to 200 ms after the last chat send settled). */
  attack: Accounting;
  counts: Counts;
  /** What alice received, in order. */
  received: string[];
  /** Chat messages sent during the attack (after 20 before it). */
  chatSent: number;
  chatRejected: { rejected: number; first?: string };
  /** alice's peers after the attack, as nick:state. */
  peersAfter: string[];
  /** What the victim sent back to the attackers' sockets. */
  repliesToAttackers: { datagrams: number; bytes: number; byType: Record<string, number> };
  attackBytes: number;
  errorEvents: Record<string, number>;
  realMs: number;
}

function accounting(stats: SocketStats, fromPeer: number): Accounting {
  const droppedTotal = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
  return {
    datagramsIn: stats.datagramsIn,
    dropped: { ...stats.dropped },
    droppedTotal,
    fromPeer,
    handshakePackets: stats.handshakePackets,
    stun: stats.stun,
    unaccounted:
      stats.datagramsIn - (droppedTotal + fromPeer + stats.handshakePackets + stats.stun),
  };
}

function minus(a: Accounting, b: Accounting): Accounting {
  const dropped = { ...a.dropped };
  for (const k of Object.keys(dropped) as (keyof DropCounts)[]) dropped[k] -= b.dropped[k];
  return {
    datagramsIn: a.datagramsIn - b.datagramsIn,
    dropped,
    droppedTotal: a.droppedTotal - b.droppedTotal,
    fromPeer: a.fromPeer - b.fromPeer,
    handshakePackets: a.handshakePackets - b.handshakePackets,
    stun: a.stun - b.stun,
    unaccounted: a.unaccounted - b.unaccounted,
  };
}

async function attackerSockets(scope: Scope, n: number) {
  const attackers = await Promise.all(
    Array.from({ length: n }, async () => {
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
  return { attackers, replies, ports: new Set(attackers.map((s) => s.address().port)) };
}

/** Counts hostile datagrams where the socket receives them (its UDP socket); returns the count and an undo. */
function countReached(sock: MultiHolepunchSocket, ports: Set<number>) {
  const inner = sock as unknown as { driver?: { udp?: { socket?: dgram.Socket } } };
  const socket = inner.driver?.udp?.socket;
  const out = { reached: undefined as number | undefined, restore: () => {} };
  if (!socket) return out;
  out.reached = 0;
  const count = (_data: Buffer, rinfo: dgram.RemoteInfo) => {
    if (ports.has(rinfo.port)) out.reached = (out.reached ?? 0) + 1;
  };
  socket.on('message', count);
  out.restore = () => {
    socket.off('message', count);
  };
  return out;
}

export async function fuzz(scope: Scope, seed: number, total: number): Promise<FuzzFigures> {
  const rng = new Rng(seed);
  const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
  scope.defer(() => alice.close());
  const errorEvents: Record<string, number> = {};
  alice.on('error', (e) => {
    errorEvents[e.code] = (errorEvents[e.code] ?? 0) + 1;
  });
  // bob talks through a proxy only to record real packets to mutate.
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
  const received: string[] = [];
  alice.addHook((m) => {
    received.push(m.content.toString());
    tally.see(m.peer === 'bob' ? contentKey(m.content) : `?${m.peer}`);
  });
  for (let i = 0; i < 20; i++) {
    tally.expect('bob→alice', `warm ${i}`);
    await bob.send(`warm ${i}`, { recipient: 'alice' });
  }

  const { attackers, replies, ports } = await attackerSockets(scope, 4);
  const reached = countReached(alice, ports);
  const fromBob = () => alice.peers()[0]?.stats.packetsReceived ?? 0;
  const before = accounting(alice.stats(), fromBob());
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
    if (i % 100_000 === 99_999) scope.progress(`  ${(i + 1).toLocaleString('en')} datagrams sent`);
  }
  const chatRejected = await settle(chat);
  // Let the last hostile datagrams drain from the kernel buffer.
  await new Promise((r) => setTimeout(r, 200));
  const realMs = performance.now() - t0;
  const after = accounting(alice.stats(), fromBob());
  reached.restore();
  return {
    seed,
    tried: total,
    reached: reached.reached,
    total: after,
    attack: minus(after, before),
    counts: tally.summary(),
    received,
    chatSent,
    chatRejected,
    peersAfter: alice.peers().map((p) => `${p.nick}:${p.state.kind}`),
    repliesToAttackers: replies,
    attackBytes,
    errorEvents,
    realMs,
  };
}

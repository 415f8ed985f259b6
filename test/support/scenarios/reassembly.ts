/**
 * The reassembly attack of the security issue, through the real stack on the
 * fake network: an authenticated stranger (mallory) sends STREAM frames that
 * never become contiguous, while a well-behaved peer (bob) sends alice a
 * large message. Used by test/net/reassembly-attack.test.ts (which asserts)
 * and by `npm run chaos` (which prints the same figures).
 *
 * Variants:
 * - 'every-other': one-byte frames at every other offset of one stream, the
 *   issue's attack: it must end at MAX_STREAM_GAPS runs.
 * - 'spread-gaps': the same over three streams, each under MAX_STREAM_GAPS:
 *   it must end at MAX_PEER_GAPS.
 * - 'one-per-page': one byte per reassembly page on two streams, the most
 *   memory per byte sent: it must end at PEER_REASSEMBLY_LIMIT.
 */

import { PAGE_COST, PAGE_SIZE, PageStore } from '../../../source/net/core/conn/pages.js';
import { MAX_STREAM_GAPS, type RecvStream } from '../../../source/net/core/conn/recvstream.js';
import type { Session } from '../../../source/net/core/conn/session.js';
import { MAX_PAYLOAD } from '../../../source/net/core/conn/session.js';
import { RECV_WINDOW } from '../../../source/net/core/conn/streamlimits.js';
import type { Endpoint } from '../../../source/net/core/endpoint.js';
import {
  MAX_PEER_GAPS,
  MAX_STREAMS,
  PEER_REASSEMBLY_LIMIT,
} from '../../../source/net/core/peers/peer.js';
import { TAG_LENGTH } from '../../../source/net/crypto/cipher.js';
import { streamHeaderLength, writeStreamFrame } from '../../../source/net/wire/frames.js';
import { DATA_HEADER_LENGTH } from '../../../source/net/wire/packet.js';
import { FakeNetwork } from '../fakenet.js';
import { SimPeer } from '../simnode.js';
import { type Cost, CostMeter, costText } from './cost.js';

export const ATTACK_VARIANTS = ['every-other', 'spread-gaps', 'one-per-page'] as const;
export type AttackVariant = (typeof ATTACK_VARIANTS)[number];

export interface ReassemblyFigures {
  variant: AttackVariant;
  /** STREAM frames and datagrams mallory sent before alice closed the session. */
  frames: number;
  datagrams: number;
  /** Attack bytes on the wire (whole datagrams). */
  attackBytes: number;
  closed: boolean;
  /** The reason alice gave (her 'error' event), if she closed. */
  closeReason: string | undefined;
  /** Mallory's state in alice's table afterwards, with its reason. */
  finalState: string;
  /** Datagrams alice dropped as protocol violations. */
  protocolDrops: number;
  /** Highest charge for mallory's streams, sampled after every frame. */
  peakCharged: number;
  /** Highest count of objects (pages, ready views) mallory's streams held. */
  peakObjects: number;
  peakGaps: number;
  /** Reassembly work on mallory's streams, in PageStore steps. */
  operations: number;
  /** The documented bounds the figures must stay within. */
  bounds: { charged: number; objects: number; gaps: number };
  /** Node-wide reassembly bytes alice held once the attack was over. */
  heldAfter: number;
  goodPeerDelivered: boolean;
  goodPeerConnected: boolean;
  /** Bytes alice sent mallory while the attack ran (ACKs, the CLOSE). */
  bytesToAttacker: number;
  /** CPU and peak memory of the attack phase (the process running the scenario). */
  cost: Cost;
}

// ---- reaching inside: the attacker needs its session keys, the victim's
// figures need its per-peer streams. Kept in one place for when the endpoint
// and peer internals move.

interface PeerInside {
  current: Session | undefined;
  inbound: { recvStreams: ReadonlyMap<number, RecvStream> };
  /** Shared by all of an endpoint's peers: patching it sees every frame accounted. */
  host: { reserveReassembly(delta: number): boolean };
}
/** The peer table: a `registry` (get by nick) or, before that, a `byNick` map. */
interface EndpointInside {
  registry?: { get(nick: string): PeerInside | undefined };
  byNick?: Map<string, PeerInside>;
}

function peerOf(e: Endpoint, fingerprint: string): PeerInside {
  const nick = e.peers().find((p) => p.fingerprint === fingerprint)?.nick;
  const inside = e as unknown as EndpointInside;
  const peer =
    nick === undefined ? undefined : (inside.registry?.get(nick) ?? inside.byNick?.get(nick));
  if (!peer) throw new Error(`no peer with fingerprint ${fingerprint}`);
  return peer;
}

/** Seals `payload` as one DATA packet of `session`, as the endpoint would. */
function seal(session: Session, payload: Uint8Array, now: number): Buffer {
  const buf = Buffer.alloc(DATA_HEADER_LENGTH + payload.length + TAG_LENGTH);
  buf.set(payload, DATA_HEADER_LENGTH);
  session.seal(buf, payload.length, now);
  return buf;
}

/** The attack's frames: [streamId, offset], one byte each. */
function* attackFrames(variant: AttackVariant): Generator<[number, number]> {
  if (variant === 'every-other') {
    // Offset 0 never comes, so nothing is ever contiguous.
    for (let k = 0; k <= MAX_STREAM_GAPS + 16; k++) yield [2, 2 * k + 1];
    return;
  }
  if (variant === 'spread-gaps') {
    for (let k = 0; k < MAX_STREAM_GAPS; k++) for (const s of [0, 2, 3]) yield [s, 2 * k + 1];
    return;
  }
  for (const stream of [2, 3]) {
    for (let k = 0; k < RECV_WINDOW / PAGE_SIZE; k++) yield [stream, k * PAGE_SIZE + 1];
  }
}

/** Packs frames into payloads of at most MAX_PAYLOAD bytes. */
function* payloads(frames: Iterable<[number, number]>): Generator<[Buffer, number]> {
  const buf = Buffer.alloc(MAX_PAYLOAD);
  const one = Uint8Array.of(0x55);
  let pos = 0;
  let count = 0;
  for (const [stream, offset] of frames) {
    if (pos + streamHeaderLength(stream, offset, 1) + 1 > buf.length) {
      yield [Buffer.from(buf.subarray(0, pos)), count];
      pos = 0;
      count = 0;
    }
    pos = writeStreamFrame(buf, pos, stream, offset, one);
    count++;
  }
  if (pos > 0) yield [Buffer.from(buf.subarray(0, pos)), count];
}

export function reassemblyAttack(seed: number, variant: AttackVariant): ReassemblyFigures {
  const net = new FakeNetwork({ seed });
  const alice = new SimPeer(net, { address: '203.0.113.1', port: 1000 }, { nick: 'alice' });
  const bob = new SimPeer(net, { address: '203.0.113.2', port: 2000 }, { nick: 'bob' });
  const mallory = new SimPeer(net, { address: '203.0.113.66', port: 6666 }, { nick: 'mallory' });
  bob.add('alice', alice);
  mallory.add('alice', alice);
  const up = () => alice.endpoint.peers().filter((p) => p.state.kind === 'connected').length === 2;
  if (!net.runUntilTrue(up, 10_000)) throw new Error('alice did not meet bob and mallory');

  // Bob's message is in flight, and partly reassembled, while the attack runs.
  const big = net.rng.bytes(300_000);
  bob.send(['alice'], big);
  net.run(5);

  const victim = peerOf(alice.endpoint, mallory.endpoint.fingerprint);
  const figures: ReassemblyFigures = {
    variant,
    frames: 0,
    datagrams: 0,
    attackBytes: 0,
    closed: false,
    closeReason: undefined,
    finalState: '',
    protocolDrops: 0,
    peakCharged: 0,
    peakObjects: 0,
    peakGaps: 0,
    operations: 0,
    bounds: {
      // The check runs after each frame, so one frame's pages (≤ 2) may overshoot.
      charged: PEER_REASSEMBLY_LIMIT + 2 * PAGE_COST,
      // Pages are bounded by the charge; each stream adds a few ready views.
      objects: Math.ceil((PEER_REASSEMBLY_LIMIT + 2 * PAGE_COST) / PAGE_COST) + 4 * MAX_STREAMS,
      gaps: Math.min(MAX_PEER_GAPS, MAX_STREAM_GAPS * MAX_STREAMS) + 1,
    },
    heldAfter: 0,
    goodPeerDelivered: false,
    goodPeerConnected: false,
    bytesToAttacker: 0,
    cost: { cpuMs: 0, peakMemory: 0, rssAtPeak: 0, samples: 0 },
  };
  const meter = new CostMeter();
  net.tap = (d) => {
    if (d.from.address === alice.addr.address && d.to.address === mallory.addr.address)
      figures.bytesToAttacker += d.data.length;
    return undefined;
  };
  // Sample mallory's streams each time alice accounts a frame (every onStream).
  const host = victim.host;
  const reserve = host.reserveReassembly.bind(host);
  host.reserveReassembly = (delta) => {
    meter.sample();
    let charged = 0;
    let objects = 0;
    let gaps = 0;
    let steps = 0;
    for (const s of victim.inbound.recvStreams.values()) {
      charged += s.chargedBytes;
      objects += s.objectsHeld;
      gaps += s.gaps;
      steps += s.steps;
    }
    figures.peakCharged = Math.max(figures.peakCharged, charged);
    figures.peakObjects = Math.max(figures.peakObjects, objects);
    figures.peakGaps = Math.max(figures.peakGaps, gaps);
    figures.operations = Math.max(figures.operations, steps);
    return reserve(delta);
  };

  const session = peerOf(mallory.endpoint, alice.endpoint.fingerprint).current;
  if (!session) throw new Error('mallory has no session with alice');
  const malloryNick = alice.endpoint
    .peers()
    .find((p) => p.fingerprint === mallory.endpoint.fingerprint)!.nick;
  const stillOpen = () => alice.endpoint.peer(malloryNick)?.state.kind === 'connected';
  for (const [payload, count] of payloads(attackFrames(variant))) {
    const datagram = seal(session, payload, net.now);
    net.inject(datagram, mallory.addr, alice.addr);
    net.run(1);
    figures.frames += count;
    figures.datagrams++;
    figures.attackBytes += datagram.length;
    if (!stillOpen()) break;
  }
  figures.closed = !stillOpen();
  const error = alice.errors().find((e) => e.type === 'error' && e.nick === malloryNick);
  figures.closeReason = error?.type === 'error' ? error.message : undefined;
  const state = alice.endpoint.peer(malloryNick)?.state;
  figures.finalState = state
    ? `${state.kind}${'reason' in state ? `: ${state.reason}` : ''}`
    : 'gone';
  figures.protocolDrops = alice.endpoint.stats.dropped.protocol;
  host.reserveReassembly = reserve;
  figures.cost = meter.done();
  net.tap = undefined;

  net.runUntilTrue(() => alice.received.some((m) => m.data.equals(big)), 30_000);
  figures.goodPeerDelivered = alice.received.filter((m) => m.nick === 'bob').length === 1;
  figures.goodPeerDelivered &&= alice.received.find((m) => m.nick === 'bob')!.data.equals(big);
  figures.goodPeerConnected = alice.connected('bob');
  figures.heldAfter = alice.endpoint.reassemblyBytesHeld;
  return figures;
}

/**
 * What one reassembly page really costs on this Node: heap plus array-buffer
 * growth per page over many pages (gc forced when --expose-gc allows, else
 * noisier). PAGE_COST must be at least this.
 */
export function measurePageBytes(pages = 20_000): { measured: number; gcForced: boolean } {
  const gc = (globalThis as { gc?: () => void }).gc;
  const used = () => {
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const store = new PageStore();
  const before = used();
  for (let k = 0; k < pages; k++) store.write(k * PAGE_SIZE, Uint8Array.of(1));
  const after = used();
  if (store.size !== pages) throw new Error('page count');
  return { measured: (after - before) / pages, gcForced: gc !== undefined };
}

/** The report's lines for `npm run chaos`. */
export function reassemblySection(
  runs: ReassemblyFigures[],
  page: { measured: number; gcForced: boolean },
): string {
  const pad = (label: string, value: string) => `  ${label.padEnd(44)}${value}`;
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const lines = ['Reassembly attack by an authenticated stranger (fake network)'];
  for (const f of runs) {
    lines.push(
      pad(
        `${f.variant}: sent`,
        `${f.frames} one-byte frames in ${f.datagrams} datagrams (${kib(f.attackBytes)})`,
      ),
      pad('  closed', f.closed ? `yes: ${f.closeReason ?? '(no reason given)'}` : 'NO'),
      pad(
        '  peak charged / objects / gaps',
        `${kib(f.peakCharged)} / ${f.peakObjects} / ${f.peakGaps} (bounds ${kib(f.bounds.charged)} / ${f.bounds.objects} / ${f.bounds.gaps})`,
      ),
      pad(
        '  operations',
        `${f.operations} steps (${(f.operations / Math.max(1, f.frames)).toFixed(1)} per frame)`,
      ),
      pad(
        '  bytes out per attack byte in',
        `${(f.bytesToAttacker / Math.max(1, f.attackBytes)).toFixed(2)}x (${f.bytesToAttacker} B to mallory)`,
      ),
      pad('  CPU, memory (whole simulation)', costText(f.cost)),
      pad(
        '  well-behaved peer',
        `${f.goodPeerDelivered ? 'delivered' : 'NOT delivered'}, ${f.goodPeerConnected ? 'connected' : 'DISCONNECTED'}; held after: ${f.heldAfter} B`,
      ),
    );
  }
  lines.push(
    pad(
      'one page, charged / measured',
      `${PAGE_COST} B / ${page.measured.toFixed(0)} B${page.gcForced ? '' : ' (no --expose-gc: noisy)'}`,
    ),
  );
  return lines.join('\n');
}

/** Why a run fails the report (empty when it held). */
export function reassemblyProblems(f: ReassemblyFigures): string[] {
  const out: string[] = [];
  if (!f.closed) out.push(`${f.variant}: the attacker was not cut off`);
  if (f.peakCharged > f.bounds.charged)
    out.push(`${f.variant}: charge ${f.peakCharged} over bound`);
  if (f.peakObjects > f.bounds.objects)
    out.push(`${f.variant}: ${f.peakObjects} objects over bound`);
  if (f.peakGaps > f.bounds.gaps) out.push(`${f.variant}: ${f.peakGaps} gaps over bound`);
  if (!f.goodPeerDelivered || !f.goodPeerConnected)
    out.push(`${f.variant}: the good peer suffered`);
  return out;
}

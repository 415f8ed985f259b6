/**
 * The chaos scenario: three peers on a virtual clock over a hostile fake
 * network (30% loss, 5% duplication, jittered delay that reorders), every
 * pair sending `perDirection` messages each way in bursts, as an application
 * would. Used by test/net/chaos.test.ts (which asserts) and `npm run chaos`
 * (which prints the same figures).
 */
import { performance } from 'node:perf_hooks';
import type { NetworkStats } from '../fakenet.js';
import { FakeNetwork } from '../fakenet.js';
import { MESH_CONDITIONS, type SimPeer, simMesh } from '../simnode.js';
import { type Counts, Tally } from './tally.js';

export const MESH_NAMES = ['alice', 'bob', 'carol'] as const;
export type MeshName = (typeof MESH_NAMES)[number];

export interface ChaosFigures {
  seed: number;
  perDirection: number;
  /** Every node saw both others connected within 60 s of virtual time. */
  meshUp: boolean;
  meshUpMs: number | undefined;
  /** Every node received 2 × perDirection messages within 600 s virtual. */
  allArrived: boolean;
  counts: Counts;
  /** receiver → the nick the transport named as sender → texts, in arrival order. */
  received: Record<string, Record<string, string[]>>;
  /** Sends acknowledged to their sender: never, exactly once, more than once. */
  acks: { total: number; never: number; once: number; more: number };
  network: NetworkStats;
  /** Summed over every peer record of every node. */
  transport: { packetsLost: number; retransmits: number };
  /** Datagrams each node dropped as replays (the network's duplicates among them). */
  replayDrops: Record<string, number>;
  /** First send → last message delivered. */
  realMs: number;
  virtualMs: number;
}

function connectedPeers(n: SimPeer): number {
  return n.endpoint.peers().filter((p) => p.state.kind === 'connected').length;
}

/** Who received what, keyed by the nick the transport reports as sender. */
function receivedBySender(nodes: SimPeer[]): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [k, node] of nodes.entries()) {
    const bySender: Record<string, string[]> = {};
    for (const m of node.received) {
      const list = bySender[m.nick] ?? [];
      list.push(m.data.toString());
      bySender[m.nick] = list;
    }
    out[MESH_NAMES[k]!] = bySender;
  }
  return out;
}

export function chaosMesh(seed: number, perDirection: number): ChaosFigures {
  const net = new FakeNetwork({ seed, conditions: { ...MESH_CONDITIONS } });
  const nodes = simMesh(net);
  const tally = new Tally();
  const pairs = MESH_NAMES.flatMap((from) =>
    MESH_NAMES.filter((to) => to !== from).map((to) => [from, to] as const),
  );
  for (let i = 0; i < perDirection; i++)
    for (const [from, to] of pairs) tally.expect(`${from}→${to}`, `${from}→${to}#${i}`);

  const meshStart = net.now;
  const meshUp = net.runUntilTrue(() => nodes.every((n) => connectedPeers(n) === 2), 60_000);
  const meshUpMs = meshUp ? net.now - meshStart : undefined;

  const realStart = performance.now();
  const virtualStart = net.now;
  const ids: number[][] = nodes.map(() => []);
  if (meshUp) {
    for (let i = 0; i < perDirection; i++) {
      for (const [k, node] of nodes.entries()) {
        for (const to of MESH_NAMES) {
          if (to !== MESH_NAMES[k]) ids[k]!.push(node.send([to], `${MESH_NAMES[k]}→${to}#${i}`));
        }
      }
      if (i % 100 === 99) net.run(50);
    }
  }
  const want = 2 * perDirection;
  const allArrived =
    meshUp && net.runUntilTrue(() => nodes.every((n) => n.received.length >= want), 600_000);
  const virtualMs = net.now - virtualStart;
  const realMs = performance.now() - realStart;
  // Late duplicates would surface now.
  net.run(5_000);

  for (const [k, node] of nodes.entries()) {
    for (const m of node.received) {
      const text = m.data.toString();
      // The sender prefix must agree with who the transport says sent it.
      tally.see(text.startsWith(`${m.nick}→${MESH_NAMES[k]}#`) ? text : `?${m.nick}:${text}`);
    }
  }
  const acks = { total: 0, never: 0, once: 0, more: 0 };
  for (const [k, node] of nodes.entries()) {
    for (const id of ids[k]!) {
      const n = node.delivered.get(id)?.length ?? 0;
      acks.total++;
      if (n === 0) acks.never++;
      else if (n === 1) acks.once++;
      else acks.more++;
    }
  }
  const peers = nodes.flatMap((n) => n.endpoint.peers());
  return {
    seed,
    perDirection,
    meshUp,
    meshUpMs,
    allArrived,
    counts: tally.summary(),
    received: receivedBySender(nodes),
    acks,
    network: { ...net.stats },
    transport: {
      packetsLost: peers.reduce((a, p) => a + p.stats.packetsLost, 0),
      retransmits: peers.reduce((a, p) => a + p.stats.retransmits, 0),
    },
    replayDrops: Object.fromEntries(
      nodes.map((n, k) => [MESH_NAMES[k]!, n.endpoint.stats.dropped.replay]),
    ),
    realMs,
    virtualMs,
  };
}

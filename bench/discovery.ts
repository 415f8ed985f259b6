/**
 * `npx tsx bench/discovery.ts [rounds]`: discovery by key (issue 18) on a
 * private Mainline DHT of 20 bittorrent-dht nodes on 127.0.0.1 (never the
 * public routers). Reports, never asserts:
 *
 * - publish → resolve: one node stores a fresh BEP 44 item for a new key,
 *   another (that never saw it) resolves it; the time from the start of the
 *   put to an accepted record.
 * - connect by key: two sockets with `dht` on; once the second has published,
 *   the first is given only its fingerprint; time from addPeers to connected
 *   (one lookup, then the handshake).
 *
 * Also `npm run bench` (group 8, bench/index.ts): publish → resolve in both
 * modes, connect by key in the full one.
 *
 * Loopback has no propagation delay: these are the protocol's and the
 * library's own costs (round trips × processing), a floor for the real DHT.
 */
import { performance } from 'node:perf_hooks';
import DHT from 'bittorrent-dht';
import { generateIdentity, verifyDetached } from '../source/net/crypto/identity.js';
import { DhtNode } from '../source/net/discovery/dht.js';
import { RecordPolicy, signItem } from '../source/net/discovery/policy.js';
import { encodeRecord } from '../source/net/discovery/record.js';
import { MultiHolepunchSocket } from '../source/net/shell/socket.js';
import { percentile } from './stats.js';

const verify = (sig: unknown, msg: Buffer, key: unknown): boolean =>
  Buffer.isBuffer(sig) && Buffer.isBuffer(key) && verifyDetached(key, msg, sig);

async function swarm(count: number): Promise<{ bootstrap: string[]; close(): Promise<void> }> {
  const listen = (d: DHT) => new Promise<void>((r) => d.listen(0, '127.0.0.1', () => r()));
  const ready = (d: DHT) =>
    d.ready ? Promise.resolve() : new Promise<void>((r) => d.once('ready', () => r()));
  const first = new DHT({ bootstrap: false, verify, host: false });
  await listen(first);
  const bootstrap = [`127.0.0.1:${first.address().port}`];
  const rest = Array.from({ length: count - 1 }, () => new DHT({ bootstrap, verify, host: false }));
  await Promise.all(rest.map(listen));
  const all = [first, ...rest];
  await Promise.all(all.map(ready));
  return {
    bootstrap,
    close: () => Promise.all(all.map((d) => new Promise<void>((r) => d.destroy(() => r())))).then(),
  };
}

/** The figures the issue asks for: p50 and p95 (stats.ts's Summary stops at p90 / p99). */
export function tail(ms: readonly number[]): { n: number; p50: number; p95: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const max = s[s.length - 1] ?? Number.NaN;
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max };
}

function summary(ms: number[]): string {
  const t = tail(ms);
  return `p50 ${t.p50.toFixed(1)} ms, p95 ${t.p95.toFixed(1)} ms (n=${t.n})`;
}

/** Rounds per figure: `--quick` keeps the run short (CI smoke), full gives a steadier p95. */
export interface DiscoveryConfig {
  /** publish -> resolve rounds (one 20-node swarm for all). */
  rounds: number;
  /** connect-by-key rounds (a fresh swarm and socket pair each); 0 = skip. */
  connectRounds: number;
}
export const DISCOVERY_QUICK: DiscoveryConfig = { rounds: 10, connectRounds: 0 };
export const DISCOVERY_FULL: DiscoveryConfig = { rounds: 50, connectRounds: 5 };
/** Nodes in the private DHT: enough that a lookup walks several hops' worth of k-buckets. */
export const SWARM_NODES = 20;

export interface DiscoveryResult {
  /** ms per round that resolved, from the start of the put to an accepted record. */
  publishResolve: number[];
  /** Rounds whose key another node could not resolve (reported, never dropped silently). */
  misses: number;
  connectByKey: number[];
}

export async function measureDiscovery(
  cfg: DiscoveryConfig,
  progress: (text: string) => void = () => undefined,
): Promise<DiscoveryResult> {
  progress(
    `discovery: publish -> resolve, ${cfg.rounds} fresh keys, ${SWARM_NODES}-node private DHT`,
  );
  const pr = await publishResolveRounds(cfg.rounds);
  let connectByKey: number[] = [];
  if (cfg.connectRounds > 0) {
    progress(`discovery: connect by key, ${cfg.connectRounds} fresh pairs`);
    connectByKey = await connectByKeyRounds(cfg.connectRounds);
  }
  return { publishResolve: pr.ms, misses: pr.misses, connectByKey };
}

/** publish -> resolve over `rounds` fresh keys: the time of each that resolved, and the misses. */
async function publishResolveRounds(rounds: number): Promise<{ ms: number[]; misses: number }> {
  const net = await swarm(SWARM_NODES);
  const opts = { bootstrap: net.bootstrap, host: '127.0.0.1' };
  const out: number[] = [];
  let misses = 0;
  // The same two nodes throughout: nodes that left would linger in the
  // others' tables and charge every later query a 2 s timeout.
  const a = await DhtNode.start(new RecordPolicy(), opts);
  const b = await DhtNode.start(new RecordPolicy(), opts);
  for (let i = 0; i < rounds; i++) {
    const id = generateIdentity();
    const v = encodeRecord({ nick: 'x', nat: 'unknown', candidates: [] });
    const t0 = performance.now();
    await a.publish(signItem(id, v, Date.now()));
    const found = await b.resolve(id.publicKey);
    if (found) out.push(performance.now() - t0);
    else misses++;
  }
  await Promise.all([a.close(), b.close()]);
  await net.close();
  return { ms: out, misses };
}

async function connectByKeyRounds(rounds: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const net = await swarm(SWARM_NODES);
    const dht = { bootstrap: net.bootstrap };
    const alice = await MultiHolepunchSocket.bind({ nick: 'alice', host: '127.0.0.1', dht });
    const bob = await MultiHolepunchSocket.bind({ nick: 'bob', host: '127.0.0.1', dht });
    // Bob's record is in the DHT before Alice asks (he has been online a while).
    while ((bob.stats().discovery?.publishes ?? 0) < 1) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    await alice.addPeers({ bob: bob.fingerprint });
    await alice.waitForPeer('bob', { timeout: 60_000 });
    out.push(performance.now() - t0);
    await Promise.all([alice.close(), bob.close()]);
    await net.close();
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.argv[2] ?? 30);
  const r = await measureDiscovery({ rounds, connectRounds: Math.min(rounds, 10) }, (t) =>
    process.stderr.write(`${t}\n`),
  );
  console.log(
    `publish -> resolve (private ${SWARM_NODES}-node DHT, loopback): ${summary(r.publishResolve)}, ${r.misses} not resolved`,
  );
  console.log(`connect by key (addPeers -> connected): ${summary(r.connectByKey)}`);
}

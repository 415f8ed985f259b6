/**
 * `npm run chaos [-- --json] [-- --long]`: the hostile-network report. Runs
 * the scenarios of test/net/{chaos,faults,fuzz,flood,reassembly-attack}.test.ts,
 * measuring instead of asserting, and prints one table (scenario, messages
 * sent, delivered, duplicated, lost, time), the bad datagrams tried and
 * dropped by reason, peak memory during the handshake flood, and what the
 * reassembly attack got to hold before it was cut off. `--json` prints one
 * JSON document instead; `--long` sends the largest allowed message (1 MiB)
 * instead of 256 KiB. Progress goes to stderr.
 *
 * Times are reported, never asserted. The exit code is 1 when a scenario
 * crashed or lost, duplicated, reordered or corrupted a message (the report
 * says which), 0 otherwise. Everything runs on 127.0.0.1 or a virtual clock.
 *
 * Seeds: CHAOS_SEED (mesh) and SRMUDP_FAULT_SEED (proxy), as in the tests.
 */
import { performance } from 'node:perf_hooks';
import { MAX_MESSAGE_SIZE } from '../source/net/core/conn/stream.js';
import * as reasm from '../test/support/scenarios/reassembly.js';
import { blackout, lossyLink, rebinding, restart } from './chaos/faults.js';
import { type FuzzFigures, fuzz } from './chaos/fuzz.js';
import {
  bytes,
  count,
  crashed,
  errorText,
  failed,
  ms,
  type ScenarioResult,
  scenarioTable,
} from './chaos/report.js';
import { Scope } from './chaos/scope.js';
import {
  chaosMesh,
  type FloodFigures,
  type FloodPeerFigures,
  floodWithRealPeer,
  handshakeFlood,
} from './chaos/virtual.js';

const argv = process.argv.slice(2);
const unknown = argv.filter((a) => a !== '--json' && a !== '--long');
if (unknown.length > 0) {
  console.error(`usage: npm run chaos [-- --json] [-- --long]   (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}
const asJson = argv.includes('--json');
const long = argv.includes('--long');

const SEEDS = {
  mesh: Number(process.env.CHAOS_SEED ?? 20261125),
  faults: Number(process.env.SRMUDP_FAULT_SEED ?? 4242),
  fuzz: 99,
  flood: 77,
  floodPeer: 21,
};
const MESH_PER_DIRECTION = 10_000;
const LOSSY_MESSAGES = 10_000;
const BIG = long ? MAX_MESSAGE_SIZE : 256 * 1024;
const BLACKOUT_MS = 10_000;
const FUZZ_DATAGRAMS = 1_000_000;
const FLOOD_INITS = 100_000;

function progress(text: string): void {
  process.stderr.write(`[chaos] ${text}\n`);
}

// ---- running scenarios -----------------------------------------------------------

const results: ScenarioResult[] = [];
/** Exceptions that escaped into the event loop outside any scenario. */
const strays: string[] = [];
let current: Scope | undefined;

function onEscape(err: unknown): void {
  if (current) current.uncaught.push(err);
  else strays.push(errorText(err));
}
process.on('uncaughtException', onEscape);
process.on('unhandledRejection', onEscape);

/**
 * Runs one step; on a throw, an escaped exception or overrunning `limitMs`
 * its planned rows are reported as crashed. Cleanups always run.
 */
async function step<T>(
  label: string,
  planned: { scenario: string; sent: number }[],
  limitMs: number,
  fn: (scope: Scope) => Promise<T> | T,
  rows: (out: T) => ScenarioResult[],
): Promise<T | undefined> {
  progress(label);
  const scope = new Scope(progress);
  current = scope;
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  try {
    const out = await Promise.race([
      Promise.resolve().then(() => fn(scope)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not finish within ${ms(limitMs)}`)),
          limitMs,
        );
      }),
    ]);
    const made = rows(out);
    if (scope.uncaught.length > 0) {
      for (const r of made)
        r.problems.push(`exception escaped to the event loop: ${errorText(scope.uncaught[0])}`);
    }
    results.push(...made);
    return out;
  } catch (err) {
    results.push(...planned.map((p) => crashed(p.scenario, p.sent, err)));
    return undefined;
  } finally {
    clearTimeout(timer);
    current = undefined;
    await scope.close();
    progress(`  done in ${ms(performance.now() - started)}`);
  }
}

const runStart = performance.now();

const flood = await step(
  `handshake flood: ${count(FLOOD_INITS)} INITs into the endpoint`,
  [],
  120_000,
  () => handshakeFlood(SEEDS.flood, FLOOD_INITS),
  () => [],
);
const floodPeer = await step(
  'a real peer connecting during the flood (fake network)',
  [{ scenario: 'real peer during the INIT flood (virtual clock)', sent: 1 }],
  120_000,
  () => floodWithRealPeer(SEEDS.floodPeer, FLOOD_INITS),
  (out) => [out.result],
);
await step(
  `3-peer mesh, ${count(MESH_PER_DIRECTION)} messages each way per pair (virtual clock)`,
  [{ scenario: '3-peer mesh (virtual clock)', sent: 6 * MESH_PER_DIRECTION }],
  180_000,
  () => chaosMesh(SEEDS.mesh, MESH_PER_DIRECTION),
  (r) => [r],
);
await step(
  'lossy link over real UDP',
  [
    { scenario: `${count(LOSSY_MESSAGES)} messages, lossy link (real UDP)`, sent: LOSSY_MESSAGES },
    { scenario: `one ${bytes(BIG)} message, lossy link (real UDP)`, sent: 1 },
  ],
  long ? 600_000 : 240_000,
  (scope) => lossyLink(scope, SEEDS.faults, LOSSY_MESSAGES, BIG),
  (rows) => rows,
);
for (const established of [false, true]) {
  await step(
    `${ms(BLACKOUT_MS)} blackout over real UDP (${established ? 'established session' : 'as the test: right after connecting'})`,
    [{ scenario: 'blackout, then recovery (real UDP)', sent: established ? 12 : 11 }],
    60_000,
    (scope) => blackout(scope, SEEDS.faults, BLACKOUT_MS, established),
    (r) => [r],
  );
}
await step(
  'NAT rebinding over real UDP',
  [{ scenario: 'NAT rebinding mid-session (real UDP)', sent: 30 }],
  60_000,
  (scope) => rebinding(scope, SEEDS.faults, 10),
  (r) => [r],
);
await step(
  'peer restart on the same port over real UDP',
  [{ scenario: 'peer restarted on the same port (real UDP)', sent: 3 }],
  60_000,
  (scope) => restart(scope),
  (r) => [r],
);
const fuzzed = await step(
  `fuzz: ${count(FUZZ_DATAGRAMS)} hostile datagrams against a live socket`,
  [{ scenario: 'chat during the fuzz (real UDP)', sent: 20 }],
  240_000,
  (scope) => fuzz(scope, SEEDS.fuzz, FUZZ_DATAGRAMS),
  (out) => [out.result],
);
const reassembly = await step(
  'reassembly attack by an authenticated stranger (virtual clock)',
  [],
  60_000,
  () => ({
    runs: reasm.ATTACK_VARIANTS.map((v, i) => reasm.reassemblyAttack(50 + i, v)),
    page: reasm.measurePageBytes(),
  }),
  () => [],
);
const totalMs = performance.now() - runStart;

// ---- the report ------------------------------------------------------------------

const failures = results
  .filter(failed)
  .map((r) => {
    const what = [
      r.lost > 0 ? `lost ${count(r.lost)}` : '',
      r.duplicated > 0 ? `duplicated ${count(r.duplicated)}` : '',
      ...r.problems,
    ].filter(Boolean);
    return `${r.scenario}: ${what.join('; ')}`;
  })
  .concat(strays.map((s) => `exception escaped outside any scenario: ${s}`));
if (!flood) failures.push('handshake flood: crashed (no figures)');
failures.push(
  ...(reassembly
    ? reassembly.runs.flatMap(reasm.reassemblyProblems)
    : ['reassembly attack: crashed']),
);

function fuzzSection(f: FuzzFigures | undefined): string {
  const lines = ['Bad datagrams tried and dropped by reason'];
  if (!f) return `${lines[0]}\n  (the fuzz scenario crashed: no figures)`;
  const pad = (label: string, value: string) => `  ${label.padEnd(44)}${value}`;
  lines.push(
    pad('tried', `${count(f.tried)} (random, truncated, bit-flipped, replayed; seed ${f.seed})`),
    pad(
      'reached the socket',
      `${f.reached === undefined ? '-' : count(f.reached)}${f.kernelDropped === undefined ? '' : ` (kernel receive-buffer drops, host-wide: ${count(f.kernelDropped)})`}`,
    ),
    pad('dropped, by reason:', count(f.droppedTotal)),
  );
  const reasons = Object.entries(f.dropped).sort((a, b) => b[1] - a[1]);
  for (const [reason, n] of reasons) lines.push(pad(`  ${reason}`, count(n)));
  lines.push(
    pad('taken as handshake packets (replayed INITs)', count(f.handshakePackets)),
    pad('STUN-shaped', count(f.stun)),
    pad('authenticated, from the chatting peer', count(f.fromPeer)),
    pad('unaccounted for', count(f.unaccounted)),
    pad(
      'sent back to the attackers',
      `${count(f.repliesToAttackers.datagrams)} datagrams, ${bytes(f.repliesToAttackers.bytes)} (attack: ${bytes(f.attackBytes)}): ${
        Object.entries(f.repliesToAttackers.byType)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${count(v)}`)
          .join(', ') || 'none'
      }`,
    ),
    pad(
      "'error' events on the socket",
      Object.keys(f.errorEvents).length === 0
        ? 'none'
        : Object.entries(f.errorEvents)
            .map(([k, v]) => `${k} ${count(v)}`)
            .join(', '),
    ),
  );
  return lines.join('\n');
}

function floodSection(f: FloodFigures | undefined, p: FloodPeerFigures | undefined): string {
  const lines = [
    `Handshake flood: ${count(FLOOD_INITS)} INITs from random 127.0.0.0/8 address:port pairs into the sans-I/O endpoint`,
  ];
  if (!f) return `${lines[0]}\n  (crashed: no figures)`;
  const pad = (label: string, value: string) => `  ${label.padEnd(44)}${value}`;
  const m = f.memory;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const delta = (a: number, b: number) => `${b >= a ? '+' : ''}${mib(b - a)}`;
  lines.push(
    pad(
      'processed in',
      `${ms(f.realMs)} real for ${ms(f.virtualMs)} virtual (${count(Math.round(f.inits / (f.realMs / 1000)))} INITs/s)`,
    ),
    pad(
      'half-open handshakes',
      `max ${count(f.maxHalfOpen)}, ${count(f.halfOpenAfter)} at the end`,
    ),
    pad(
      'answered',
      `${count(f.rateLimited)} with a stateless cookie, ${count(f.answeredWithState)} with state`,
    ),
    pad(
      'bytes out ÷ bytes in',
      `${f.ratio.toFixed(3)}x overall (${bytes(f.bytesOut)} / ${bytes(f.bytesIn)})`,
    ),
    pad(
      '  worst single address',
      `${Number.isFinite(f.worstRatio) ? f.worstRatio.toFixed(3) : '∞'}x (${f.worstAddress}); over 3x: ${count(f.addressesOver3x)} of ${count(f.addresses)} addresses`,
    ),
    pad(
      'peak memory during the flood',
      `RSS ${mib(m.peak.rss)} (${delta(m.before.rss, m.peak.rss)}), heapUsed ${mib(m.peak.heapUsed)} (${delta(m.before.heapUsed, m.peak.heapUsed)})`,
    ),
    pad(
      '  baseline before / after the flood',
      `RSS ${mib(m.before.rss)} / ${mib(m.after.rss)}, heapUsed ${mib(m.before.heapUsed)} / ${mib(m.after.heapUsed)}`,
    ),
    pad(
      '  sampling',
      `${count(m.samples)} samples; gc forced before and after: ${m.gcForced ? 'yes' : 'no (run with NODE_OPTIONS=--expose-gc)'}`,
    ),
    pad(
      'a real peer connected during the flood',
      !p
        ? 'crashed'
        : p.connected
          ? `yes, in ${ms(p.connectMs)} virtual (max half-open ${count(p.maxHalfOpen)}, ${count(p.rateLimited)} cookies sent)`
          : 'NO',
    ),
  );
  return lines.join('\n');
}

const ok = failures.length === 0;
let text: string;
if (asJson) {
  text = `${JSON.stringify(
    {
      ok,
      failures,
      long,
      seeds: SEEDS,
      totalMs,
      scenarios: results,
      fuzz: fuzzed?.figures ?? null,
      flood: { endpoint: flood ?? null, realPeer: floodPeer?.figures ?? null },
      reassembly: reassembly ?? null,
    },
    (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v),
    2,
  )}\n`;
} else {
  text = [
    `srmudp chaos report${long ? ' (--long)' : ''}: loopback 127.0.0.1 and a virtual clock; times are measured, not asserted`,
    '',
    scenarioTable(results),
    '',
    fuzzSection(fuzzed?.figures),
    '',
    floodSection(flood, floodPeer?.figures),
    '',
    reassembly
      ? reasm.reassemblySection(reassembly.runs, reassembly.page)
      : 'Reassembly attack: crashed',
    '',
    ok
      ? `OK: ${results.length} scenarios, nothing lost or duplicated (${ms(totalMs)} in all)`
      : `FAILED (${ms(totalMs)} in all):\n${failures.map((f) => `  - ${f}`).join('\n')}`,
    '',
  ].join('\n');
}
process.stdout.write(text, () => process.exit(ok ? 0 : 1));

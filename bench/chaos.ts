/**
 * `npm run chaos [-- --json] [-- --long]`: the hostile-network report. Runs
 * the scenarios of test/support/scenarios/, the very functions that
 * test/net/{chaos,faults,fuzz,flood,reassembly-attack,hostile-peers}.test.ts assert on, and prints one table (scenario, messages sent,
 * delivered, duplicated, lost, time), the bad datagrams tried and dropped by
 * reason, and peak memory during the handshake flood. `--json` prints one
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
import { MAX_MESSAGE_SIZE } from '../source/index.js';
import { chaosMesh } from '../test/support/scenarios/chaos.js';
import { blackout, lossyLink, rebinding, restart } from '../test/support/scenarios/faults.js';
import { floodWithRealPeer, handshakeFlood } from '../test/support/scenarios/flood.js';
import { fuzz } from '../test/support/scenarios/fuzz.js';
import * as hostile from '../test/support/scenarios/hostile.js';
import * as reasm from '../test/support/scenarios/reassembly.js';
import { Scope } from '../test/support/scenarios/scope.js';
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
import {
  blackoutRow,
  floodPeerRow,
  fuzzRow,
  lossyRows,
  meshRow,
  rebindingRow,
  restartRow,
} from './chaos/rows.js';
import { floodProblems, floodSection, fuzzSection } from './chaos/sections.js';
import { kernelUdp } from './figures.js';

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

/** What a scenario adds to the report besides its figures (which go to --json as they are). */
interface Outcome {
  rows?: ScenarioResult[];
  /** A block of text after the table. */
  section?: string;
  /** Failures the rows do not show. */
  problems?: string[];
}

const results: ScenarioResult[] = [];
const sections: string[] = [];
const problems: string[] = [];
const figures: Record<string, unknown> = {};
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
 * Runs one scenario and files what `report` makes of its figures; on a throw,
 * an escaped exception or overrunning `limitMs` its planned rows are reported
 * as crashed. Cleanups always run.
 */
async function step<T>(
  label: string,
  planned: { scenario: string; sent: number }[],
  limitMs: number,
  fn: (scope: Scope) => Promise<T> | T,
  report: (out: T) => Outcome,
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
    figures[label] = out;
    const made = report(out);
    if (scope.uncaught.length > 0) {
      const escaped = `exception escaped to the event loop: ${errorText(scope.uncaught[0])}`;
      for (const r of made.rows ?? []) r.problems.push(escaped);
      if (!made.rows?.length) problems.push(`${label}: ${escaped}`);
    }
    results.push(...(made.rows ?? []));
    if (made.section) sections.push(made.section);
    problems.push(...(made.problems ?? []));
    return out;
  } catch (err) {
    results.push(...planned.map((p) => crashed(p.scenario, p.sent, err)));
    sections.push(`${label}: crashed (${errorText(err)}), no figures`);
    if (planned.length === 0) problems.push(`${label}: crashed: ${errorText(err)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
    current = undefined;
    await scope.close();
    progress(`  done in ${ms(performance.now() - started)}`);
  }
}

/** Host-wide kernel UDP receive-buffer drops while `fn` ran (Linux; undefined elsewhere). */
async function withKernelDrops<T extends object>(
  fn: () => Promise<T>,
): Promise<T & { kernelDropped?: number }> {
  const before = kernelUdp();
  const out = await fn();
  const after = kernelUdp();
  return before && after
    ? { ...out, kernelDropped: after.rcvbufErrors - before.rcvbufErrors }
    : out;
}

const runStart = performance.now();

// One step per scenario: the functions the tests call, and what the report
// makes of their figures. A new scenario is one more step.
const flood = await step(
  `handshake flood: ${count(FLOOD_INITS)} INITs into the endpoint`,
  [],
  120_000,
  () => handshakeFlood(SEEDS.flood, FLOOD_INITS),
  (f) => ({ problems: floodProblems(f) }),
);
await step(
  'a real peer connecting during the flood (fake network)',
  [{ scenario: 'real peer during the INIT flood (virtual clock)', sent: 1 }],
  120_000,
  () => floodWithRealPeer(SEEDS.floodPeer, FLOOD_INITS),
  (f) => ({ rows: [floodPeerRow(f)], section: floodSection(FLOOD_INITS, flood, f) }),
);
await step(
  `3-peer mesh, ${count(MESH_PER_DIRECTION)} messages each way per pair (virtual clock)`,
  [{ scenario: '3-peer mesh (virtual clock)', sent: 6 * MESH_PER_DIRECTION }],
  180_000,
  () => chaosMesh(SEEDS.mesh, MESH_PER_DIRECTION),
  (f) => ({ rows: [meshRow(f)] }),
);
await step(
  'lossy link over real UDP',
  [
    { scenario: `${count(LOSSY_MESSAGES)} messages, lossy link (real UDP)`, sent: LOSSY_MESSAGES },
    { scenario: `one ${bytes(BIG)} message, lossy link (real UDP)`, sent: 1 },
  ],
  long ? 600_000 : 240_000,
  (scope) => lossyLink(scope, SEEDS.faults, LOSSY_MESSAGES, BIG),
  (f) => ({ rows: lossyRows(f, BIG) }),
);
for (const warmFirst of [false, true]) {
  await step(
    `${ms(BLACKOUT_MS)} blackout over real UDP (${warmFirst ? 'established session' : 'right after connecting, as the test'})`,
    [{ scenario: 'blackout, then recovery (real UDP)', sent: warmFirst ? 12 : 11 }],
    60_000,
    (scope) => blackout(scope, SEEDS.faults, BLACKOUT_MS, warmFirst),
    (f) => ({ rows: [blackoutRow(f)] }),
  );
}
await step(
  'NAT rebinding over real UDP',
  [{ scenario: 'NAT rebinding mid-session (real UDP)', sent: 30 }],
  60_000,
  (scope) => rebinding(scope, SEEDS.faults, 10),
  (f) => ({ rows: [rebindingRow(f)] }),
);
await step(
  'peer restart on the same port over real UDP',
  [{ scenario: 'peer restarted on the same port (real UDP)', sent: 3 }],
  60_000,
  (scope) => restart(scope),
  (f) => ({ rows: [restartRow(f)] }),
);
await step(
  `fuzz: ${count(FUZZ_DATAGRAMS)} hostile datagrams against a live socket`,
  [{ scenario: 'chat during the fuzz (real UDP)', sent: 20 }],
  240_000,
  (scope) => withKernelDrops(() => fuzz(scope, SEEDS.fuzz, FUZZ_DATAGRAMS)),
  (f) => ({ rows: [fuzzRow(f)], section: fuzzSection(f, f.kernelDropped) }),
);
await step(
  'reassembly attack by an authenticated stranger (virtual clock)',
  [],
  60_000,
  () => ({
    runs: reasm.ATTACK_VARIANTS.map((v, i) => reasm.reassemblyAttack(50 + i, v)),
    page: reasm.measurePageBytes(),
  }),
  (r) => ({
    section: reasm.reassemblySection(r.runs, r.page),
    problems: r.runs.flatMap(reasm.reassemblyProblems),
  }),
);
await step(
  'reflection and name claims by authenticated strangers (virtual clock)',
  [],
  60_000,
  () => ({ r: hostile.reflection(110), n: hostile.nameClaim(112) }),
  ({ r, n }) => ({
    section: hostile.hostileSection(r, n),
    problems: hostile.hostileProblems(r, n),
  }),
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
  .concat(problems)
  .concat(strays.map((s) => `exception escaped outside any scenario: ${s}`));

const ok = failures.length === 0;
let text: string;
if (asJson) {
  text = `${JSON.stringify(
    { ok, failures, long, seeds: SEEDS, totalMs, scenarios: results, figures },
    // Infinity as text; the scenarios' long per-message lists as their length.
    (_, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v)
        ? String(v)
        : Array.isArray(v) && v.length > 100
          ? `(${v.length} items)`
          : v,
    2,
  )}\n`;
} else {
  text = [
    `srmudp chaos report${long ? ' (--long)' : ''}: loopback 127.0.0.1 and a virtual clock; times are measured, not asserted`,
    '',
    scenarioTable(results),
    '',
    ...sections.flatMap((s) => [s, '']),
    ok
      ? `OK: ${results.length} scenarios, nothing lost or duplicated (${ms(totalMs)} in all)`
      : `FAILED (${ms(totalMs)} in all):\n${failures.map((f) => `  - ${f}`).join('\n')}`,
    '',
  ].join('\n');
}
process.stdout.write(text, () => process.exit(ok ? 0 : 1));

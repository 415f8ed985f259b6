/**
 * Re-checks the survivors of one Stryker run without Stryker: applies each
 * surviving or uncovered mutant of a JSON report at its exact location in a
 * private copy of the tree, runs the given test files, restores the file.
 * Prints KILLED / SURVIVED per mutant and the totals.
 *
 *   node test/mutation/recheck.mjs .scratch/mutation/mutation.json test/net/x.test.ts ...
 *
 * Why: it checks that new tests kill what they were written for without a
 * full Stryker run, and it runs the static mutants (module-level code, e.g.
 * noise.ts's pattern table), for which the vitest runner with `related: true`
 * ran no test at all and reported them as survived.
 * RK names the private copy (default .scratch/recheck); the worktree is never modified.
 * RK_TIMEOUT bounds each run in seconds (default 120): a hang is reported TIMEOUT, detected.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [json, ...tests] = process.argv.slice(2);
if (!json || tests.length === 0) {
  console.error('usage: node test/mutation/recheck.mjs <stryker report.json> <test file>...');
  process.exit(2);
}
const root = process.cwd();
/** Seconds one mutant's test run may take (RK_TIMEOUT); past it the mutant counts as detected. */
const LIMIT = Number(process.env.RK_TIMEOUT ?? 120);
const copy = resolve(process.env.RK ?? join(root, '.scratch', 'recheck'));
rmSync(copy, { recursive: true, force: true });
for (const entry of [
  'source',
  'test',
  'scripts',
  'package.json',
  'tsconfig.json',
  'vitest.config.ts',
]) {
  cpSync(join(root, entry), join(copy, entry), { recursive: true });
}
symlinkSync(realpathSync(join(root, 'node_modules')), join(copy, 'node_modules'));

const report = JSON.parse(readFileSync(json, 'utf8'));
let killed = 0;
let survived = 0;
for (const [file, f] of Object.entries(report.files)) {
  const path = join(copy, file);
  const src = readFileSync(path, 'utf8');
  if (src !== f.source) {
    console.error(`${file} changed since the run; re-run Stryker first`);
    process.exit(2);
  }
  const lines = src.split('\n');
  const offset = (loc) =>
    lines.slice(0, loc.line - 1).reduce((n, l) => n + l.length + 1, 0) + loc.column - 1;
  for (const m of f.mutants.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage')) {
    const a = offset(m.location.start);
    const b = offset(m.location.end);
    writeFileSync(path, src.slice(0, a) + m.replacement + src.slice(b));
    // Under coreutils timeout, which signals its whole process group: a mutant
    // that loops for ever in a test is counted detected (as Stryker counts a
    // timeout) and leaves no vitest worker spinning behind it.
    const run = spawnSync(
      'timeout',
      ['-k', '5', String(LIMIT), 'npx', 'vitest', 'run', '--bail=1', ...tests],
      { cwd: copy },
    );
    const timedOut = run.status === 124 || run.status === 137;
    const caught = run.status !== 0;
    if (caught) killed++;
    else survived++;
    const was = JSON.stringify(src.slice(a, b).slice(0, 60));
    const now = JSON.stringify(m.replacement.slice(0, 60));
    const verdict = timedOut ? 'TIMEOUT ' : caught ? 'KILLED  ' : 'SURVIVED';
    console.log(`${verdict} ${m.id} :${m.location.start.line} ${m.mutatorName}: ${was} -> ${now}`);
    writeFileSync(path, src);
  }
}
console.log(`killed ${killed}, still surviving ${survived}`);

/**
 * What the chaos run reports and how it prints: one row per scenario and the
 * text rendering. Nothing here measures anything: the scenarios (and their
 * counts) are in test/support/scenarios/.
 */
import { errorText } from '../../test/support/scenarios/scope.js';
import type { Counts } from '../../test/support/scenarios/tally.js';

export interface ScenarioResult {
  scenario: string;
  sent: number;
  /** Distinct expected messages that arrived at least once. */
  delivered: number;
  /** Expected messages that arrived more than once. */
  duplicated: number;
  /** sent − delivered. */
  lost: number;
  /** Wall-clock ms of what `timeOf` describes. */
  realMs: number | undefined;
  /** Virtual-clock ms of the same span, for scenarios on the fake network. */
  virtualMs?: number | undefined;
  /** What the time column measures. */
  timeOf: string;
  notes: string[];
  /** Failures besides loss and duplication: a crash, out of order, corrupted, unacknowledged. */
  problems: string[];
}

/**
 * The counting columns of a row from a scenario's counts, and the problems
 * the counts themselves show (loss and duplication have their own columns).
 */
export function countsRow(
  c: Counts,
): Pick<ScenarioResult, 'sent' | 'delivered' | 'duplicated' | 'lost' | 'problems'> {
  const problems: string[] = [];
  if (c.outOfOrder > 0) problems.push(`${count(c.outOfOrder)} arrived out of order`);
  if (c.unexpected > 0)
    problems.push(`${count(c.unexpected)} arrivals matched no message sent (corrupted?)`);
  return { sent: c.sent, delivered: c.delivered, duplicated: c.duplicated, lost: c.lost, problems };
}

/** "n send() calls rejected (first: …)", or nothing. */
export function rejectedProblem(
  s: { rejected: number; first?: string },
  what = 'send() calls',
): string[] {
  return s.rejected > 0 ? [`${count(s.rejected)} ${what} rejected (first: ${s.first})`] : [];
}

/** A scenario that threw (or never finished): everything it meant to send is lost. */
export function crashed(scenario: string, sent: number, err: unknown): ScenarioResult {
  return {
    scenario,
    sent,
    delivered: 0,
    duplicated: 0,
    lost: sent,
    realMs: undefined,
    timeOf: '-',
    notes: [],
    problems: [`crashed: ${errorText(err)}`],
  };
}

export function failed(r: ScenarioResult): boolean {
  return r.lost > 0 || r.duplicated > 0 || r.problems.length > 0;
}

export { errorText };

export function count(n: number): string {
  return n.toLocaleString('en');
}

export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (v < 1000) return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
}

export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function timeCell(r: ScenarioResult): string {
  if (r.virtualMs !== undefined) return `${ms(r.realMs)} real / ${ms(r.virtualMs)} virtual`;
  return ms(r.realMs);
}

/** Aligned plain-text table; `right` marks the numeric columns. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? c.length;
        return right.has(i) ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function scenarioTable(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'sent', 'delivered', 'duplicated', 'lost', 'time'];
  const rows = results.map((r, i) => [
    `${failed(r) ? '✗' : '✓'} ${r.scenario} [${i + 1}]`,
    count(r.sent),
    count(r.delivered),
    count(r.duplicated),
    count(r.lost),
    timeCell(r),
  ]);
  const notes = results.map((r, i) => {
    const parts = [`time: ${r.timeOf}`, ...r.notes, ...r.problems.map((p) => `PROBLEM: ${p}`)];
    return `[${i + 1}] ${parts.join('; ')}`;
  });
  return `${renderTable(header, rows, new Set([1, 2, 3, 4]))}\n\n${notes.join('\n')}`;
}

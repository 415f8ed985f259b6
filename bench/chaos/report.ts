/**
 * What the chaos run reports and how it prints: one row per scenario, a tally
 * that counts each expected message's arrivals, and the text rendering.
 * Nothing here measures anything.
 */
import { createHash } from 'node:crypto';

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

/** Identifies a received payload: short text as itself, anything long by its hash. */
export function contentKey(data: Uint8Array): string {
  if (data.length <= 64) return Buffer.from(data).toString('utf8');
  return `sha256:${createHash('sha256').update(data).digest('hex')}:${data.length}`;
}

/**
 * Counts arrivals of expected messages. Each message belongs to a stream
 * (sender→receiver) in which it has an index; a first arrival whose index is
 * not the stream's next one counts as out of order.
 */
export class Tally {
  sent = 0;
  /** Arrivals that match no expected message (corrupted or invented). */
  unexpected = 0;
  outOfOrder = 0;
  private readonly where = new Map<string, { stream: string; index: number }>();
  private readonly counts = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private readonly next = new Map<string, number>();

  expect(stream: string, key: string): void {
    if (this.where.has(key)) throw new Error(`Tally: message key "${key}" used twice`);
    const index = this.sizes.get(stream) ?? 0;
    this.sizes.set(stream, index + 1);
    this.where.set(key, { stream, index });
    this.counts.set(key, 0);
    this.sent++;
  }

  see(key: string): void {
    const w = this.where.get(key);
    if (w === undefined) {
      this.unexpected++;
      return;
    }
    const c = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, c);
    if (c > 1) return;
    const want = this.next.get(w.stream) ?? 0;
    if (w.index !== want) this.outOfOrder++;
    this.next.set(w.stream, w.index + 1);
  }

  get delivered(): number {
    let n = 0;
    for (const c of this.counts.values()) if (c >= 1) n++;
    return n;
  }

  get duplicated(): number {
    let n = 0;
    for (const c of this.counts.values()) if (c >= 2) n++;
    return n;
  }

  /** Every expected message has arrived at least once. */
  get complete(): boolean {
    return this.delivered === this.sent;
  }

  /** The counting columns of a row, and the problems the tally itself found. */
  summary(): Pick<ScenarioResult, 'sent' | 'delivered' | 'duplicated' | 'lost' | 'problems'> {
    const delivered = this.delivered;
    const problems: string[] = [];
    if (this.outOfOrder > 0) problems.push(`${count(this.outOfOrder)} arrived out of order`);
    if (this.unexpected > 0)
      problems.push(`${count(this.unexpected)} arrivals matched no message sent (corrupted?)`);
    return {
      sent: this.sent,
      delivered,
      duplicated: this.duplicated,
      lost: this.sent - delivered,
      problems,
    };
  }
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

export function errorText(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0] ?? '';
}

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

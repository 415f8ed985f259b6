/**
 * Percentiles, unit helpers, the one text table the benchmark prints, and
 * small waiting helpers. Nothing here measures anything.
 */

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Linear interpolation between closest ranks; `sorted` must be ascending and non-empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (rank - lo);
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((x, y) => x - y);
  const n = sorted.length;
  const mean = n === 0 ? Number.NaN : sorted.reduce((s, v) => s + v, 0) / n;
  return {
    n,
    min: sorted[0] ?? Number.NaN,
    mean,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[n - 1] ?? Number.NaN,
  };
}

export function median(values: readonly number[]): number {
  return summarize(values).p50;
}

/** MB/s with MB = 10^6 bytes (so bytes per microsecond is MB/s). */
export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1000 / ms : Number.NaN;
}

export const MiB = 1024 * 1024;

/**
 * Reservoir sampling (Vitter's algorithm R): keeps `sample` a uniform sample
 * of at most `max` of the `seen` values offered so far (`seen` counts this one).
 */
export function addToReservoir(sample: number[], seen: number, value: number, max: number): void {
  if (sample.length < max) {
    sample.push(value);
    return;
  }
  const j = Math.floor(Math.random() * seen);
  if (j < max) sample[j] = value;
}

/** About three significant digits, without exponent notation. */
export function formatNumber(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toFixed(3);
}

export function formatRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '-';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

/** One figure beside its same-run baseline. */
export interface Row {
  /** Section heading the row belongs to (printed once). */
  group: string;
  figure: string;
  unit: string;
  ours: number | undefined;
  baseline: number | undefined;
  baselineName: string;
  /** ours / baseline. */
  ratio: number | undefined;
  note: string;
  /** Set when the figure could not be measured (failure or not implemented). */
  status?: string;
}

export function row(
  group: string,
  figure: string,
  unit: string,
  ours: number | undefined,
  baselineName: string,
  baseline: number | undefined,
  note = '',
): Row {
  const ratio =
    ours !== undefined && baseline !== undefined && baseline !== 0 ? ours / baseline : undefined;
  return { group, figure, unit, ours, baseline, baselineName, ratio, note };
}

export function statusRow(group: string, figure: string, unit: string, status: string): Row {
  return {
    group,
    figure,
    unit,
    ours: undefined,
    baseline: undefined,
    baselineName: '',
    ratio: undefined,
    note: '',
    status,
  };
}

/** Renders rows as an aligned plain-text table, one group heading per section. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['figure', 'unit', 'ours', 'baseline', 'base', 'ours/base', 'notes'];
  const body: string[][] = [];
  const groupAt = new Map<number, string>();
  let lastGroup: string | undefined;
  for (const r of rows) {
    if (r.group !== lastGroup) {
      groupAt.set(body.length, r.group);
      lastGroup = r.group;
    }
    if (r.status !== undefined) {
      body.push([
        `  ${r.figure}`,
        r.unit,
        '-',
        '',
        '',
        '',
        [r.status, r.note].filter(Boolean).join('; '),
      ]);
    } else {
      body.push([
        `  ${r.figure}`,
        r.unit,
        formatNumber(r.ours),
        r.baselineName,
        formatNumber(r.baseline),
        formatRatio(r.ratio),
        r.note,
      ]);
    }
  }
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...body.map((cells) => (i === header.length - 1 ? 0 : (cells[i]?.length ?? 0))),
    ),
  );
  const numeric = new Set([2, 4, 5]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => {
        if (i === cells.length - 1) return c;
        const w = widths[i] ?? c.length;
        return numeric.has(i) ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  const out: string[] = [line(header), line(widths.map((w) => '-'.repeat(w)))];
  body.forEach((cells, i) => {
    const g = groupAt.get(i);
    if (g !== undefined) out.push(g);
    out.push(line(cells));
  });
  return out.join('\n');
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Polls `done` every `step` ms until it is true or `ms` have passed (a drain: never throws). */
export async function waitUntil(done: () => boolean, ms: number, step = 20): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done() && performance.now() < deadline) await sleep(step);
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

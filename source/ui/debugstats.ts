import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Opt-in diagnostics for the benchmarks (bench/tui.ts), off and free unless
 * `SRMUDP_DEBUG_ELD=<file>` is set: the chat then records its event-loop
 * delay (perf_hooks.monitorEventLoopDelay) the time of each Ink render and its CPU time,
 * and writes both as JSON to `<file>` when the process exits. SIGUSR2 starts
 * the recording afresh, so a benchmark can leave start-up out.
 */

export interface DebugStatsFile {
  /** Event-loop delay, ms. */
  eld: { p50: number; p99: number; max: number; mean: number; count: number };
  /** Ink render (React tree to output string) times, ms. */
  renders: { count: number; totalMs: number; maxMs: number };
  /** How long the recording ran, ms. */
  spanMs: number;
  /** CPU time (user + system) over it, ms. */
  cpuMs: number;
}

/** Starts recording when `file` is set; returns the per-render callback for Ink. */
export function startDebugStats(
  file: string | undefined,
): ((metrics: { renderTime: number }) => void) | undefined {
  if (!file) return undefined;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let start = performance.now();
  let cpu = process.cpuUsage();
  let renders = { count: 0, totalMs: 0, maxMs: 0 };
  process.on('SIGUSR2', () => {
    h.reset();
    start = performance.now();
    cpu = process.cpuUsage();
    renders = { count: 0, totalMs: 0, maxMs: 0 };
  });
  process.on('exit', () => {
    h.disable();
    const ms = (ns: number) => ns / 1e6;
    const out: DebugStatsFile = {
      eld: {
        p50: ms(h.percentile(50)),
        p99: ms(h.percentile(99)),
        max: ms(h.max),
        mean: ms(h.mean),
        count: h.count,
      },
      renders,
      spanMs: performance.now() - start,
      cpuMs: ((used) => (used.user + used.system) / 1000)(process.cpuUsage(cpu)),
    };
    try {
      writeFileSync(file, JSON.stringify(out));
    } catch {
      // Diagnostics only.
    }
  });
  return ({ renderTime }) => {
    renders.count++;
    renders.totalMs += renderTime;
    if (renderTime > renders.maxMs) renders.maxMs = renderTime;
  };
}

/**
 * CPU placement for the two-process figures. Where the two ends run changes
 * every contender's RTT several-fold (one CPU: the wake-up is a context
 * switch; two CPUs: an inter-processor interrupt and a cold cache), so the
 * bench pins each pair with taskset(1) and reports each placement. Linux
 * only; elsewhere (or with one CPU) pinning is skipped and said so.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export type Placement = 'same CPU' | 'different CPUs';

export interface Pinnable {
  readonly name: string;
  readonly pid: number | undefined;
}

/** Why pinning cannot be done here, or undefined when it can. */
export function pinningUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `taskset is Linux-only (${process.platform})`;
  if (cpus().length < 2) return 'one CPU: nothing to place';
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'taskset not found';
  }
}

/** Pins every thread of `w` (-a: libuv's pool and V8's helpers too) to `cpu`. */
export function pin(w: Pinnable, cpu: number): void {
  if (w.pid === undefined) throw new Error(`${w.name}: no pid to pin`);
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(w.pid)], { stdio: 'ignore' });
}

/** Pins `a` to CPU 0 and `b` to CPU 0 (same) or CPU 1 (different). */
export function place(a: Pinnable, b: Pinnable, placement: Placement): void {
  pin(a, 0);
  pin(b, placement === 'same CPU' ? 0 : 1);
}

/** Lets the pair run anywhere again. */
export function unpin(...ws: Pinnable[]): void {
  const all = cpus()
    .map((_, i) => i)
    .join(',');
  for (const w of ws) {
    if (w.pid !== undefined)
      execFileSync('taskset', ['-a', '-p', '-c', all, String(w.pid)], { stdio: 'ignore' });
  }
}

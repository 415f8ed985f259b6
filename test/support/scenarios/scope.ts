/**
 * Housekeeping for the real-UDP scenarios: cleanups run in reverse order
 * whether the scenario finishes, throws or overruns its limit, so every socket
 * is closed and the process can exit. Tests close a scope in afterEach; the
 * chaos report closes one per scenario.
 */
import { performance } from 'node:perf_hooks';

export class Scope {
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  /** Exceptions that escaped into the event loop while this scenario ran. */
  readonly uncaught: unknown[] = [];

  constructor(readonly progress: (text: string) => void = () => {}) {}

  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Closing twice or after a crash: nothing more to release.
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Polls `pred` every 10 ms; false if it is still false after `ms`. */
export async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) return false;
    await sleep(10);
  }
  return true;
}

export function errorText(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0] ?? '';
}

/** Settles sends; how many rejected and the first reason. */
export async function settle(
  sends: Promise<unknown>[],
): Promise<{ rejected: number; first?: string }> {
  const results = await Promise.allSettled(sends);
  const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  return bad.length > 0
    ? { rejected: bad.length, first: errorText(bad[0]!.reason) }
    : { rejected: 0 };
}

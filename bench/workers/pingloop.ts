import { performance } from 'node:perf_hooks';

/** user + system CPU time of this process, µs. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export interface PingResult {
  rtts: number[];
  timeouts: number;
  /** Pinger CPU time per counted round trip, µs. */
  cpuUsPerTrip: number;
  /** Set when the pinger gave up after MAX_CONSECUTIVE_TIMEOUTS lost trips in a row. */
  aborted: boolean;
}

/** A pinger gives up after this many lost round trips in a row (the peer is gone or wedged). */
export const MAX_CONSECUTIVE_TIMEOUTS = 5;

/**
 * One ping in flight at a time, the same loop for raw dgram and for our
 * transport, so the two figures measure the same thing. The worker's message
 * handler calls `onReply(seq)`; a ping without an echo in `timeoutMs` is
 * counted as lost, not retried.
 */
export class PingLoop {
  private waiting: { seq: number; resolve: (ok: boolean) => void } | undefined;

  onReply(seq: number): void {
    if (this.waiting?.seq === seq) this.waiting.resolve(true);
  }

  async run(
    a: { count: number; warmup: number; timeoutMs: number },
    sendPing: (seq: number) => void,
  ): Promise<PingResult> {
    const rtts: number[] = [];
    let timeouts = 0;
    let lostInARow = 0;
    let aborted = false;
    let cpu0 = cpuMicros();
    for (let seq = 0; seq < a.warmup + a.count; seq++) {
      if (seq === a.warmup) cpu0 = cpuMicros();
      let timer: NodeJS.Timeout | undefined;
      const got = new Promise<boolean>((resolve) => {
        this.waiting = { seq, resolve };
        timer = setTimeout(() => resolve(false), a.timeoutMs);
      });
      const t0 = performance.now();
      sendPing(seq);
      const ok = await got;
      const rtt = performance.now() - t0;
      clearTimeout(timer);
      this.waiting = undefined;
      lostInARow = ok ? 0 : lostInARow + 1;
      if (lostInARow >= MAX_CONSECUTIVE_TIMEOUTS) {
        aborted = true;
        break;
      }
      if (seq < a.warmup) continue;
      if (ok) rtts.push(rtt);
      else timeouts++;
    }
    const cpuUsPerTrip = (cpuMicros() - cpu0) / Math.max(1, rtts.length + timeouts);
    return { rtts, timeouts, cpuUsPerTrip, aborted };
  }
}

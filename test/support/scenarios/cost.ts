/**
 * What a scenario cost the process running it, for `npm run chaos` to print
 * beside a hostile scenario's own counts: CPU time (user + system) and the
 * peak of heap plus array-buffer memory above where it started, sampled as
 * the scenario runs (it calls `sample()` from a hook that fires per datagram
 * or per frame; one real sample every SAMPLE_EVERY calls keeps the meter
 * cheap). Reported, never asserted: tests bound counted bytes and objects.
 */

const SAMPLE_EVERY = 64;

export interface Cost {
  /** CPU time the process spent during the scenario, ms (user + system). */
  cpuMs: number;
  /** Highest heapUsed + arrayBuffers seen, minus the value at the start, bytes. */
  peakMemory: number;
  /** Resident set size at the peak sample, bytes (outside V8 too). */
  rssAtPeak: number;
  samples: number;
}

function used(): { heap: number; rss: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

export class CostMeter {
  private readonly cpu = process.cpuUsage();
  private readonly base = used().heap;
  private peak = { heap: 0, rss: 0 };
  private calls = 0;
  private samples = 0;

  /** Call often (per datagram, per frame): every SAMPLE_EVERY-th call reads memory. */
  sample(): void {
    if (this.calls++ % SAMPLE_EVERY !== 0) return;
    this.read();
  }

  done(): Cost {
    this.read();
    const cpu = process.cpuUsage(this.cpu);
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakMemory: Math.max(0, this.peak.heap - this.base),
      rssAtPeak: this.peak.rss,
      samples: this.samples,
    };
  }

  private read(): void {
    this.samples++;
    const now = used();
    if (now.heap > this.peak.heap) this.peak = now;
  }
}

/** "CPU 123 ms, peak memory +4.5 MiB (RSS 180.2 MiB), 40 samples" */
export function costText(c: Cost): string {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `CPU ${c.cpuMs.toFixed(0)} ms, peak memory +${mib(c.peakMemory)} (RSS ${mib(c.rssAtPeak)}), ${c.samples} samples`;
}

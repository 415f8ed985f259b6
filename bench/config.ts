/** Workload sizes for the two modes: `--quick` (CI smoke run, < 1 min) and full. */
import { MiB } from './stats.js';

export interface Config {
  mode: 'quick' | 'full';
  /** Raw dgram bulk: bytes blasted per run. */
  rawBytes: number;
  /** Our bulk transfer and the stream baselines': bytes per run, as `messageSize` messages / writes. */
  oursBytes: number;
  messageSize: number;
  /**
   * One untimed transfer of this size per bulk contender first, in the same
   * worker processes, so the timed runs measure steady state rather than V8
   * compiling the code (a cold 64 MiB run of ours spends about a tenth of its
   * receiver's CPU in the optimizing compiler).
   */
  warmupBytes: number;
  /** Sends awaiting their ack at most, on our bulk sender. */
  inFlight: number;
  /** Bulk runs per contender, alternating raw / ours so load noise hits both; median reported. */
  bulkRepeats: number;
  /** Wall-clock budget for one of our bulk transfers before it is reported as failed. */
  transferBudgetMs: number;
  /** Counted ping-pong round trips per contender, split into alternating blocks. */
  pings: number;
  pingBlocks: number;
  /** Uncounted round trips before the first block. */
  pingWarmup: number;
  /** Fresh socket pairs for the handshake figure, per contender (ours, raw, secret-stream, tls). */
  pairs: number;
  cryptoRounds: number;
  cryptoBatch: number;
  sendRounds: number;
  sendBurst: number;
  /** Bytes moved between the two in-process endpoints for the core-alone figure (after a quarter as warm-up). */
  coreBytes: number;
  /** Round trips counted for the allocation figure (each count; few enough that no collection runs). */
  allocTrips: number;
  /** The whole run is abandoned (children killed, exit 1) after this long. */
  watchdogMs: number;
}

export const QUICK: Config = {
  mode: 'quick',
  rawBytes: 32 * MiB,
  oursBytes: 8 * MiB,
  warmupBytes: 4 * MiB,
  messageSize: MiB,
  inFlight: 8,
  bulkRepeats: 1,
  // A liveness bound, not a speed claim: CI's smoke run checks that 8 MiB
  // arrive complete and in order; on a loaded shared runner that may take far
  // longer than the few seconds it takes here (the bench reports the speed).
  transferBudgetMs: 60_000,
  pings: 1_000,
  pingBlocks: 2,
  pingWarmup: 50,
  pairs: 5,
  cryptoRounds: 7,
  cryptoBatch: 2_000,
  sendRounds: 10,
  sendBurst: 256,
  allocTrips: 300,
  coreBytes: 8 * MiB,
  // A hang guard: group 9 (relay) adds ~20 s; a quick run with it took 108 s under load 9.
  watchdogMs: 180_000,
};

export const FULL: Config = {
  mode: 'full',
  rawBytes: 256 * MiB,
  oursBytes: 64 * MiB,
  warmupBytes: 16 * MiB,
  messageSize: MiB,
  inFlight: 8,
  bulkRepeats: 3,
  transferBudgetMs: 120_000,
  pings: 10_000,
  pingBlocks: 10,
  // V8 optimises the hot path of each contender in a background thread for
  // its first ~10,000 round trips. With both processes on one CPU that thread
  // takes turns with them: after 2,000 warm-up trips 0.7-1.2 % of our next
  // 10,000 trips took over 1 ms, nearly all in their first second (p99
  // 0.57-1.38 ms); after 20,000, p99 was 0.13 ms. Steady state is what the
  // latency figures compare, so every contender gets the same long warm-up.
  pingWarmup: 10_000,
  pairs: 100,
  cryptoRounds: 21,
  cryptoBatch: 5_000,
  sendRounds: 40,
  sendBurst: 256,
  allocTrips: 500,
  coreBytes: 64 * MiB,
  watchdogMs: 15 * 60_000,
};

import type { RttEstimator } from '../../recovery/rtt.js';

/**
 * When a session is owed a PING: to hold NAT mappings, and to sample an
 * idle path often enough that its smoothed RTT says what the path does.
 * The peer sends the PING (peer.ts onTimeout); this decides when.
 */

/** Send a PING when we have sent nothing for this long: holds NAT mappings (DESIGN.md). */
export const KEEPALIVE_INTERVAL = 15_000;
/**
 * A new session sends a PING after this much quiet until it has
 * WARMUP_SAMPLES RTT samples. An idle session otherwise samples once per
 * KEEPALIVE_INTERVAL, and its estimate (RFC 9002 §5.3: 1/8 per sample) would
 * carry its first, slowest exchange for minutes: the RTT column read 20 ms on
 * loopback half a minute after connecting. Eight PINGs of 31 bytes per session.
 */
export const WARMUP_PING_INTERVAL = 500;
/** srtt is the median of this many first samples, then gains 1/8 each (recovery/rtt.ts). */
export const WARMUP_SAMPLES = 8;
/**
 * Past the warm-up, srtt "stands high" above min_rtt × SETTLE_RATIO +
 * SETTLE_SLACK ms. A load spike on either host leaves that mark: samples
 * taken while an event loop was busy weigh 7/8 after the next, and an idle
 * link read 8.4 ms on loopback 13 s after a spike (min 0.8). While it stands
 * high and the link is quiet, the session PINGs every SETTLE_PING_INTERVAL
 * from a budget of SETTLE_PROBES that refills one per SETTLE_REFILL ms: at
 * 1/8 a sample, 40 samples leave 0.5 % of the excess (a 400 ms spike on a
 * 20 ms path reads 25 ms within 10 s). A path whose RTT truly rose stands high
 * for good (min_rtt never rises, RFC 9002 §5.2), and so may a busy host's
 * loopback: so the budget refills at the keepalive's pace, and once spent a
 * settle PING only takes the place of the keepalive. 40 PINGs of 31 bytes
 * per spike, nothing in the steady state.
 */
export const SETTLE_RATIO = 1.25;
export const SETTLE_SLACK = 0.5;
export const SETTLE_PING_INTERVAL = 250;
export const SETTLE_PROBES = 40;
export const SETTLE_REFILL = KEEPALIVE_INTERVAL;

/** What pingDue reads of a session. */
export interface PingClock {
  readonly loss: {
    readonly rtt: RttEstimator;
    readonly lastAckElicitingSent: number;
    /** Ack-eliciting packets not yet acknowledged or declared lost. */
    readonly inFlightCount: number;
  };
  /** When we last sent anything on this session. */
  readonly lastSent: number;
  readonly settle: SettleBudget;
}

/** A token bucket that can say when its next token is due (so a deadline can wait for it). */
export class SettleBudget {
  private tokens = SETTLE_PROBES;
  private at = 0;

  /** When a probe may go: now if a token is left, else when the next one refills. */
  readyAt(): number {
    return this.tokens >= 1 ? this.at : this.at + (1 - this.tokens) * SETTLE_REFILL;
  }

  take(now: number): void {
    this.tokens = Math.min(SETTLE_PROBES, this.tokens + (now - this.at) / SETTLE_REFILL);
    this.at = now;
    this.tokens = Math.max(0, this.tokens - 1);
  }
}

export function standsHigh(rtt: RttEstimator): boolean {
  return rtt.smoothedRtt > rtt.minRtt * SETTLE_RATIO + SETTLE_SLACK;
}

/**
 * Past the warm-up, srtt stands high and nothing is in flight: PINGs settle
 * it. With packets in flight their ACKs are the samples, and a lost one is
 * the PTO's to probe (RFC 9002 §6.2).
 */
function settling(s: PingClock): boolean {
  return s.loss.inFlightCount === 0 && standsHigh(s.loss.rtt);
}

/** Why a PING is owed at `now`, if one is. */
export type PingReason = 'warm-up' | 'settle' | 'keepalive';

/**
 * When `s` is owed a PING. The keepalive counts from anything sent (it holds
 * NAT mappings); warm-up and settle PINGs count from our last ack-eliciting
 * packet, since only those give us samples: counted from anything sent, our
 * ACKs of the peer's warm-up PINGs put ours off, and a hub's sessions took
 * twice as long to warm up (bench/scale.ts).
 */
export function pingDue(s: PingClock): number {
  const sent = s.loss.lastAckElicitingSent;
  if (s.loss.rtt.samples < WARMUP_SAMPLES) return sent + WARMUP_PING_INTERVAL;
  const keepalive = s.lastSent + KEEPALIVE_INTERVAL;
  if (!settling(s)) return keepalive;
  return Math.min(keepalive, Math.max(sent + SETTLE_PING_INTERVAL, s.settle.readyAt()));
}

/**
 * The PING owed at `now`, if any. While settling, every PING past the
 * warm-up spends from the budget, a keepalive too (it samples as well): else
 * a keepalive would leave the spent budget's overdue token for a settle PING
 * right behind it.
 */
export function takePing(s: PingClock, now: number): PingReason | undefined {
  if (now < pingDue(s)) return undefined;
  if (s.loss.rtt.samples < WARMUP_SAMPLES) return 'warm-up';
  if (settling(s)) s.settle.take(now);
  return now >= s.lastSent + KEEPALIVE_INTERVAL ? 'keepalive' : 'settle';
}

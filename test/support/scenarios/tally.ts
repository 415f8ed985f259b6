/**
 * Counting what a scenario delivered: each expected message belongs to a
 * stream (sender→receiver) in which it has an index; arrivals are counted per
 * message, so loss, duplication, reordering and corruption all show in the
 * figures. Tests assert on these counts; `npm run chaos` prints them.
 */
import { createHash } from 'node:crypto';

export interface Counts {
  /** Distinct messages the scenario expected. */
  sent: number;
  /** Distinct expected messages that arrived at least once. */
  delivered: number;
  /** Expected messages that arrived more than once. */
  duplicated: number;
  /** sent − delivered. */
  lost: number;
  /** First arrivals whose index was not their stream's next one. */
  outOfOrder: number;
  /** Arrivals that match no expected message (corrupted or invented). */
  unexpected: number;
}

/** Identifies a received payload: short text as itself, anything long by its hash. */
export function contentKey(data: Uint8Array): string {
  if (data.length <= 64) return Buffer.from(data).toString('utf8');
  return `sha256:${createHash('sha256').update(data).digest('hex')}:${data.length}`;
}

export class Tally {
  private sent = 0;
  private unexpected = 0;
  private outOfOrder = 0;
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

  /** Every expected message has arrived at least once. */
  get complete(): boolean {
    for (const c of this.counts.values()) if (c === 0) return false;
    return true;
  }

  summary(): Counts {
    let delivered = 0;
    let duplicated = 0;
    for (const c of this.counts.values()) {
      if (c >= 1) delivered++;
      if (c >= 2) duplicated++;
    }
    return {
      sent: this.sent,
      delivered,
      duplicated,
      lost: this.sent - delivered,
      outOfOrder: this.outOfOrder,
      unexpected: this.unexpected,
    };
  }
}

/**
 * The sent-packet log one LossDetector (loss.ts) owns: RFC 9002 Appendix A.1's
 * sent_packets for our single packet-number space, the storage half of A.5 OnPacketSent,
 * and the counts A.8 and §6.2.1 read (ack-eliciting packets outstanding, packets in flight).
 * The detector keeps the RFC's logic (A.7 acks, A.10 loss detection, §6.2 PTO, §7.6
 * persistent congestion) and settles entries here as it decides their fate.
 *
 * Bookkeeping: sent packets live in an array ordered by packet number (packet numbers only
 * grow), with a head and a tail index, and their states in a parallel array. Acked/lost entries
 * are marked in place and swept off the front, so every entry is appended once and removed
 * once. Because §6.1 declares every packet more than kPacketThreshold below the largest
 * acknowledged lost, settled markers can only pile up behind a live entry for about one round
 * trip, keeping walks short.
 *
 * The arrays and indices are plain fields the detector's per-ACK walks read directly (a
 * callback or an iterator per walk would cost on the hot path); only this class writes them.
 *
 * Allocation (issue 16): no object per sent packet beyond the caller's, and arrays that keep
 * their capacity when they drain (a ping-pong drains them on every ACK; starting again from []
 * cost a new backing store per packet).
 */

export interface SentPacket<F> {
  pn: number;
  timeSent: number;
  size: number;
  ackEliciting: boolean;
  inFlight: boolean;
  /**
   * A path-MTU probe (pmtu.ts): in flight like any packet, but its loss says
   * the path is too narrow, not congested (RFC 9000 §14.4), so it neither
   * shrinks the window nor counts toward persistent congestion or loss stats.
   */
  pmtuProbe?: boolean;
  frames: F;
}

/**
 * Packets that are neither ack-eliciting nor in flight (ACK-only) are tracked only so the caller
 * learns when they are acknowledged. A peer that never sends anything ack-eliciting never acks
 * them (RFC 9000 §13.2.1), so past this many the oldest are forgotten: they carry nothing that
 * needs retransmission and they do not count against the window.
 */
const MAX_BARE_TRACKED = 1024;
/** Sweep the array once the dead prefix is at least this long and more than half of it. */
const COMPACT_MIN = 1024;
/** A drained packet array keeps at most this many slots; a larger one is freed. */
const KEEP_DRAINED = 256;

export const LIVE = 0;
export const ACKED = 1;
export const LOST = 2;
export const DROPPED = 3;
export type EntryState = typeof LIVE | typeof ACKED | typeof LOST | typeof DROPPED;

export class SentLog<F> {
  /** Sent packets, [head, tail) in use; slots outside it are undefined. */
  packets: (SentPacket<F> | undefined)[] = [];
  /** The state of packets[i] (LIVE, ACKED, LOST, DROPPED). */
  states: EntryState[] = [];
  head = 0;
  tail = 0;
  /** Live ack-eliciting packets (A.8: no PTO without one). */
  ackElicitingOutstanding = 0;
  /** Live packets that count toward bytes in flight. */
  inFlightCount = 0;
  /** Packet numbers of ACK-only packets in send order, for enforcing MAX_BARE_TRACKED. */
  #bare: number[] = [];
  #bareHead = 0;
  #bareLive = 0;

  /**
   * Slots the ACK-only list holds, live or not: memory, for tests that bound it (the list is
   * private, and a head that stopped advancing would grow it by one per ACK-only packet).
   */
  get bareSlots(): number {
    return this.#bare.length;
  }

  /** Work on the ACK-only list, in steps (an entry looked at or copied): for tests that bound it. */
  bareWork = 0;

  /** A.5's storage: appends `p`, whose packet number the caller checked is above every other. */
  append(p: SentPacket<F>): void {
    const i = this.tail;
    if (i < this.packets.length) {
      this.packets[i] = p;
      this.states[i] = LIVE;
    } else {
      this.packets.push(p);
      this.states.push(LIVE);
    }
    this.tail = i + 1;
    if (p.inFlight) this.inFlightCount++;
    if (p.ackEliciting) this.ackElicitingOutstanding++;
    else if (!p.inFlight) this.#trackBare(p.pn);
  }

  /** Forgets every entry (the caller took what it needed from the live ones). */
  clear(): void {
    this.packets = [];
    this.states = [];
    this.head = 0;
    this.tail = 0;
    this.#bare = [];
    this.#bareHead = 0;
    this.#bareLive = 0;
    this.ackElicitingOutstanding = 0;
    this.inFlightCount = 0;
  }

  /** Marks the live entry at index `i` acked, lost or dropped. */
  settle(i: number, state: EntryState): void {
    this.states[i] = state;
    const p = this.packets[i]!;
    if (p.inFlight) this.inFlightCount--;
    if (p.ackEliciting) this.ackElicitingOutstanding--;
    else if (!p.inFlight) this.#bareLive--;
  }

  /** True when packet `pn` is still tracked and neither acked, lost nor dropped. */
  #isLive(pn: number): boolean {
    const i = this.lowerBound(pn);
    return i < this.tail && this.packets[i]!.pn === pn && this.states[i] === LIVE;
  }

  #trackBare(pn: number): void {
    const bare = this.#bare;
    bare.push(pn);
    this.#bareLive++;
    while (this.#bareLive > MAX_BARE_TRACKED) {
      this.bareWork++;
      const oldest = bare[this.#bareHead++]!;
      const i = this.lowerBound(oldest);
      if (i < this.tail && this.packets[i]!.pn === oldest && this.states[i] === LIVE) {
        this.settle(i, DROPPED);
      }
    }
    while (this.#bareHead < bare.length && !this.#isLive(bare[this.#bareHead]!)) {
      this.#bareHead++;
      this.bareWork++;
    }
    if (this.#bareHead >= COMPACT_MIN && this.#bareHead * 2 > bare.length) {
      this.bareWork += bare.length - this.#bareHead;
      this.#bare = bare.slice(this.#bareHead);
      this.#bareHead = 0;
    }
    this.compact();
  }

  /**
   * Sweep settled entries off the front (releasing their packets); move the live ones down in
   * place once the dead prefix dominates, so memory tracks live entries without a new array.
   * The arrays may be replaced: walks re-read them after calling this.
   */
  compact(): void {
    const packets = this.packets;
    const states = this.states;
    const tail = this.tail;
    let head = this.head;
    while (head < tail && states[head] !== LIVE) packets[head++] = undefined;
    if (head === tail) {
      head = 0;
      this.tail = 0;
      if (packets.length > KEEP_DRAINED) {
        this.packets = [];
        this.states = [];
      }
    } else if (head >= COMPACT_MIN && head * 2 > tail) {
      const live = tail - head;
      for (let k = 0; k < live; k++) {
        packets[k] = packets[head + k];
        states[k] = states[head + k]!;
      }
      for (let k = live; k < tail; k++) packets[k] = undefined;
      this.tail = live;
      head = 0;
    }
    this.head = head;
  }

  /** First index at or after the head whose packet number is >= pn. */
  lowerBound(pn: number): number {
    const packets = this.packets;
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (packets[mid]!.pn >= pn) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

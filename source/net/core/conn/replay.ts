/**
 * Sliding anti-replay window over received packet numbers (the bitmap scheme
 * of RFC 6479, as WireGuard §5.4.6 uses). A packet number is accepted once;
 * anything older than WINDOW below the highest seen is refused outright.
 *
 * `mayAccept` is checked before decryption (cheap rejection); `commit` only
 * after the packet authenticated, so forged packets cannot move the window.
 */
export const REPLAY_WINDOW = 4096;
const WORDS = REPLAY_WINDOW / 32;

export class ReplayWindow {
  private readonly bits = new Uint32Array(WORDS);
  private top = -1;
  /** Bitmap words touched so far (the peer picks its packet numbers: tests bound this). */
  steps = 0;

  get highest(): number {
    return this.top;
  }

  mayAccept(pn: number): boolean {
    if (pn > this.top) return true;
    if (pn + REPLAY_WINDOW <= this.top) return false;
    const slot = pn % REPLAY_WINDOW;
    return (this.bits[slot >>> 5]! & (1 << (slot & 31))) === 0;
  }

  /** Marks `pn` as received. Call only after `mayAccept(pn)` and authentication. */
  commit(pn: number): void {
    if (pn > this.top) {
      const advance = pn - this.top;
      if (advance >= REPLAY_WINDOW) {
        this.steps += WORDS;
        this.bits.fill(0);
      } else {
        // The slots of every number skipped over, and pn's own, now stand
        // for new packet numbers: clear them a word at a time (a peer picks
        // its numbers, so a jump of REPLAY_WINDOW - 1 must not cost 4095 steps).
        this.clear(this.top + 1, pn + 1);
      }
      this.top = pn;
    }
    const slot = pn % REPLAY_WINDOW;
    this.bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  /** Clears the slots of packet numbers [from, to), fewer than REPLAY_WINDOW of them. */
  private clear(from: number, to: number): void {
    let p = from;
    while (p < to) {
      this.steps++;
      const slot = p % REPLAY_WINDOW;
      const lo = slot & 31;
      const n = Math.min(32 - lo, to - p);
      const mask = n === 32 ? -1 : ((1 << n) - 1) << lo;
      this.bits[slot >>> 5]! &= ~mask;
      p += n;
    }
  }
}

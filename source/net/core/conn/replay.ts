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
        this.bits.fill(0);
      } else {
        for (let p = this.top + 1; p < pn; p++) {
          const s = p % REPLAY_WINDOW;
          this.bits[s >>> 5]! &= ~(1 << (s & 31));
        }
        const s = pn % REPLAY_WINDOW;
        this.bits[s >>> 5]! &= ~(1 << (s & 31));
      }
      this.top = pn;
    }
    const slot = pn % REPLAY_WINDOW;
    this.bits[slot >>> 5]! |= 1 << (slot & 31);
  }
}

import { encodeReset } from '../../wire/packet.js';
import { TokenBucket } from './cookies.js';
import { type LocalNode, resetToken } from './handshake.js';

/** Stateless resets we send: a burst, refilled at this rate per second. */
const RESET_BURST = 50;
const RESET_RATE = 50;

/**
 * Stateless reset (RFC 9000 §10.3), both ways. We answer DATA for a session
 * we do not have with a RESET carrying that index's token — never for an
 * index in use by a dial or a half-open handshake (§21.11: the token must
 * not be handed to whoever can make us answer); and we accept a RESET only
 * with the token a peer gave us for a live session.
 */
export class Resets {
  /** Peers' reset tokens (hex) → our session index, to verify RESET packets in O(1). */
  private readonly tokens = new Map<string, number>();
  private readonly budget = new TokenBucket(RESET_RATE, RESET_BURST);

  constructor(private readonly local: LocalNode) {}

  register(token: Buffer, localIndex: number): void {
    this.tokens.set(token.toString('hex'), localIndex);
  }

  unregister(token: Buffer | undefined): void {
    if (token) this.tokens.delete(token.toString('hex'));
  }

  /** Our session index a RESET with `token` ends, if any. */
  lookup(token: Uint8Array): number | undefined {
    return this.tokens.get(Buffer.from(token).toString('hex'));
  }

  /**
   * The RESET to send for DATA on `index`, which no session of ours holds,
   * or undefined when the budget is spent. Smaller than the DATA that
   * triggered it, so it amplifies nothing.
   */
  answer(index: number, now: number): Buffer | undefined {
    if (!this.budget.take(now)) return undefined;
    return encodeReset(index, resetToken(this.local, index));
  }
}

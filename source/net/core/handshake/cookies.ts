import { createHmac, timingSafeEqual } from 'node:crypto';
import { COOKIE_LENGTH } from '../../wire/packet.js';
import { type Addr, addrKey } from '../address.js';

/**
 * Handshake-flood defence, after WireGuard §5.4.7 and QUIC Retry (RFC 9000
 * §8.1.2). Under load the responder keeps no state for an INIT that does not
 * carry a cookie proving its source address can receive: it answers with a
 * COOKIE (a MAC of that address under a secret that rotates every two
 * minutes) and forgets it. Spoofed sources never see their cookie.
 */
const ROTATE_EVERY = 120_000;

export class CookieJar {
  private current: Buffer;
  private previous: Buffer;
  private rotatedAt: number | undefined;

  /** `random`: the endpoint's injected source of secret bytes. */
  constructor(private readonly random: (n: number) => Buffer) {
    this.current = random(32);
    this.previous = random(32);
  }

  private rotate(now: number): void {
    if (this.rotatedAt === undefined) {
      this.rotatedAt = now;
      return;
    }
    const periods = Math.floor((now - this.rotatedAt) / ROTATE_EVERY);
    if (periods < 1) return;
    // Rotation is noticed lazily, but it stays on a fixed two-minute grid and
    // a secret more than one rotation old is gone, so no cookie outlives the
    // second rotation after it was made, however long the jar sat idle.
    this.previous = periods === 1 ? this.current : this.random(32);
    this.current = this.random(32);
    this.rotatedAt += periods * ROTATE_EVERY;
  }

  make(from: Addr, now: number): Buffer {
    this.rotate(now);
    return mac(this.current, from);
  }

  verify(cookie: Uint8Array, from: Addr, now: number): boolean {
    this.rotate(now);
    if (cookie.length !== COOKIE_LENGTH) return false;
    return (
      timingSafeEqual(cookie, mac(this.current, from)) ||
      timingSafeEqual(cookie, mac(this.previous, from))
    );
  }
}

function mac(secret: Buffer, from: Addr): Buffer {
  return createHmac('sha256', secret).update(addrKey(from)).digest().subarray(0, COOKIE_LENGTH);
}

/**
 * A token bucket for INIT processing: beyond `rate` handshakes a second (after
 * a burst) the responder is "under load" and demands cookies.
 */
export class TokenBucket {
  private tokens: number;
  private at: number | undefined;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    if (this.at !== undefined)
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

import type { HandshakeState } from '../../crypto/noise.js';
import { encodeInit } from '../../wire/packet.js';
import { type Addr, addrKey, sameAddr } from '../address.js';
import type { Peer } from '../peers/peer.js';
import { cipherId, type LocalNode, startInitiator } from './handshake.js';

/** A dial attempt is forgotten this long after its INIT went out. */
const DIAL_TTL = 20_000;
/** Cookies we hold for servers that asked us for one. */
const MAX_COOKIES = 1024;
/** A little under the server's two rotations (cookies.ts), so we never present a stale one. */
const COOKIE_TTL = 110_000;

/** One INIT we sent and await the RESP to. */
export interface Dial {
  peer: Peer;
  state: HandshakeState;
  to: Addr;
  sentAt: number;
  /** The Noise message, kept to resend the INIT once with a cookie. */
  message: Buffer;
  cookieRetried: boolean;
}

/**
 * The dialing side of the handshake: INITs in flight by our index, and the
 * cookies servers under load gave us (held per address, WireGuard §5.4.7).
 */
export class Initiator {
  private readonly dials = new Map<number, Dial>();
  private readonly cookies = new Map<string, { cookie: Buffer; at: number }>();

  constructor(private readonly local: LocalNode) {}

  get size(): number {
    return this.dials.size;
  }

  has(index: number): boolean {
    return this.dials.has(index);
  }

  /** A fresh INIT for `peer` to `to` under our `index`, with a held cookie if we have one. */
  start(peer: Peer, to: Addr, index: number, now: number): Buffer {
    const { state, message } = startInitiator(this.local);
    this.dials.set(index, { peer, state, to, sentAt: now, message, cookieRetried: false });
    const jar = this.cookies.get(addrKey(to));
    const cookie = jar && now - jar.at < COOKIE_TTL ? jar.cookie : undefined;
    return encodeInit(index, cipherId(this.local.cipher), message, cookie);
  }

  /**
   * The server is under load and wants proof of our address: the INIT to
   * resend, once, with its cookie (undefined: not ours, or already retried).
   */
  onCookie(receiver: number, cookie: Uint8Array, from: Addr, now: number): Buffer | undefined {
    const dial = this.dials.get(receiver);
    if (!dial || dial.cookieRetried || !sameAddr(dial.to, from)) return undefined;
    dial.cookieRetried = true;
    const key = addrKey(from);
    if (!this.cookies.has(key) && this.cookies.size >= MAX_COOKIES) {
      const [oldest] = this.cookies.keys();
      this.cookies.delete(oldest!);
    }
    this.cookies.set(key, { cookie: Buffer.from(cookie), at: now });
    return encodeInit(receiver, cipherId(this.local.cipher), dial.message, cookie);
  }

  get(index: number): Dial | undefined {
    return this.dials.get(index);
  }

  /** The dial a RESP answers; it is forgotten here. */
  take(index: number): Dial | undefined {
    const d = this.dials.get(index);
    this.dials.delete(index);
    return d;
  }

  forgetPeer(peer: Peer): void {
    for (const [index, d] of this.dials) if (d.peer === peer) this.dials.delete(index);
  }

  /** Expires old attempts; true while some remain. */
  sweep(now: number): boolean {
    for (const [index, d] of this.dials) if (now - d.sentAt >= DIAL_TTL) this.dials.delete(index);
    return this.dials.size > 0;
  }

  clear(): void {
    this.dials.clear();
  }
}

import type { HandshakeState } from '../../crypto/noise.js';
import { encodeCookie, encodeReject, encodeResp, RejectReason } from '../../wire/packet.js';
import { type Addr, addrKey } from '../address.js';
import type { DropReason } from '../errors.js';
import type { EndpointEvent } from '../events.js';
import { CookieJar, TokenBucket } from './cookies.js';
import { cipherFromId, cipherId, type LocalNode, respond } from './handshake.js';

/** Half-open handshakes we keep, and how long (bounded state under floods). */
export const MAX_RESPONDING = 1024;
const RESPONDING_TTL = 10_000;
/** A retransmitted INIT is answered again at most this many times. */
const MAX_RESP_RESENDS = 4;
/** Handshakes a second we answer without asking for a cookie (after a burst). */
const INIT_RATE = 200;
const INIT_BURST = 200;
/** Half-open handshakes per source IP, and in all, before cookies are demanded. */
const MAX_RESPONDING_PER_IP = 8;
const LOAD_HALF_OPEN = MAX_RESPONDING / 4;
/** Cipher-mismatch errors reported, one per address. */
const MAX_MISMATCH_REPORTS = 256;

/** A handshake we answered (RESP sent) and await the FINISH of. */
export interface Responding {
  state: HandshakeState;
  remoteIndex: number;
  from: Addr;
  resp: Buffer;
  createdAt: number;
  resends: number;
  origin: string;
  /** Our Hello flags in the RESP (so we know which NAT mapping that peer was told). */
  helloFlags: number;
}

export interface ResponderOutput {
  transmit(to: Addr, data: Buffer): void;
  drop(reason: DropReason): void;
  emit(event: EndpointEvent): void;
}

/**
 * The answering side of the handshake: RESP for an INIT, with bounded
 * half-open state, per-IP limits and stateless cookies under load
 * (WireGuard §5.4.7, RFC 9000 §8.1.2).
 */
export class Responder {
  private readonly cookieJar: CookieJar;
  private readonly initBucket = new TokenBucket(INIT_RATE, INIT_BURST);
  private readonly responding = new Map<number, Responding>();
  private readonly byOrigin = new Map<string, number>();
  private readonly perIp = new Map<string, number>();
  private readonly reportedMismatch = new Set<string>();

  constructor(
    private readonly local: LocalNode,
    private readonly out: ResponderOutput,
    random: (n: number) => Buffer,
  ) {
    this.cookieJar = new CookieJar(random);
  }

  get size(): number {
    return this.responding.size;
  }

  has(index: number): boolean {
    return this.responding.has(index);
  }

  onInit(
    sender: number,
    cipher: number,
    cookie: Uint8Array,
    noise: Uint8Array,
    from: Addr,
    now: number,
    newIndex: () => number,
  ): void {
    const theirs = cipherFromId(cipher);
    if (theirs !== this.local.cipher) {
      this.refuseCipher(sender, cipher, theirs, from);
      return;
    }
    const origin = `${addrKey(from)}/${sender}`;
    const existing = this.byOrigin.get(origin);
    if (existing !== undefined) {
      // A retransmitted INIT: our RESP was lost. Answer again, a bounded number of times.
      const r = this.responding.get(existing);
      if (r && r.resends < MAX_RESP_RESENDS) {
        r.resends++;
        this.out.transmit(from, r.resp);
      }
      return;
    }
    const perIp = this.perIp.get(from.address) ?? 0;
    const underLoad =
      this.responding.size >= LOAD_HALF_OPEN ||
      perIp >= MAX_RESPONDING_PER_IP ||
      !this.initBucket.take(now);
    if (underLoad && !this.cookieJar.verify(cookie, from, now)) {
      // Stateless: 22 bytes back for 320 in, and nothing remembered.
      this.out.transmit(from, encodeCookie(sender, this.cookieJar.make(from, now)));
      this.out.drop('rate-limited');
      return;
    }
    if (perIp >= MAX_RESPONDING_PER_IP) {
      this.out.drop('rate-limited');
      return;
    }
    const index = newIndex();
    const { state, message } = respond(this.local, noise, index);
    if (this.responding.size >= MAX_RESPONDING) {
      const [oldest] = this.responding.keys();
      this.forget(oldest!);
    }
    const resp = encodeResp(index, sender, message);
    this.responding.set(index, {
      state,
      remoteIndex: sender,
      from,
      resp,
      createdAt: now,
      resends: 0,
      origin,
      helloFlags: this.local.flags,
    });
    this.byOrigin.set(origin, index);
    this.perIp.set(from.address, perIp + 1);
    this.out.transmit(from, resp);
  }

  private refuseCipher(
    sender: number,
    cipher: number,
    theirs: string | undefined,
    from: Addr,
  ): void {
    this.out.transmit(
      from,
      encodeReject(sender, RejectReason.CipherMismatch, cipherId(this.local.cipher)),
    );
    // Reported once per address: a flood of such INITs must not flood events.
    const key = addrKey(from);
    if (!this.reportedMismatch.has(key) && this.reportedMismatch.size < MAX_MISMATCH_REPORTS) {
      this.reportedMismatch.add(key);
      this.out.emit({
        type: 'error',
        code: 'cipher-mismatch',
        message: `${key} offered ${theirs ?? `unknown cipher ${cipher}`}, but this node uses ${this.local.cipher}`,
        address: from,
      });
    }
    this.out.drop('handshake');
  }

  get(index: number): Responding | undefined {
    return this.responding.get(index);
  }

  /** The half-open handshake a FINISH completes; it is forgotten here. */
  take(index: number): Responding | undefined {
    const r = this.responding.get(index);
    if (r) this.forget(index);
    return r;
  }

  /** Expires half-open handshakes; true while some remain. */
  sweep(now: number): boolean {
    for (const [index, r] of this.responding) {
      if (now - r.createdAt < RESPONDING_TTL) break; // insertion order = age order
      this.forget(index);
    }
    return this.responding.size > 0;
  }

  clear(): void {
    this.responding.clear();
    this.byOrigin.clear();
    this.perIp.clear();
  }

  private forget(index: number): void {
    const r = this.responding.get(index);
    if (!r) return;
    this.responding.delete(index);
    this.byOrigin.delete(r.origin);
    const n = (this.perIp.get(r.from.address) ?? 1) - 1;
    if (n > 0) this.perIp.set(r.from.address, n);
    else this.perIp.delete(r.from.address);
  }
}

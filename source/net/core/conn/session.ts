import { type PacketKey, TAG_LENGTH } from '../../crypto/cipher.js';
import { Pacer } from '../../recovery/congestion.js';
import { LossDetector } from '../../recovery/loss.js';
import { BASE_PLPMTU, PathMtu } from '../../recovery/pmtu.js';
import { RangeSet } from '../../recovery/rangeset.js';
import { MAX_ACK_RANGES } from '../../wire/frames.js';
import { DATA_HEADER_LENGTH, MAX_DATAGRAM, writeDataHeader } from '../../wire/packet.js';
import { view } from '../../wire/reader.js';
import type { Addr } from '../address.js';
import { SettleBudget } from './pings.js';
import { ReplayWindow } from './replay.js';

/**
 * One completed handshake: a pair of transport keys, one packet-number space
 * and its loss recovery. A peer may briefly hold two sessions (simultaneous
 * open, restart); streams live on the peer so that data survives the switch.
 *
 * Sans I/O: every method takes `now`; nothing here reads a clock.
 */

/** Frame payload of a DATA packet: datagram minus header and tag. */
export const payloadRoom = (datagram: number): number => datagram - DATA_HEADER_LENGTH - TAG_LENGTH;
/** Frame payload of a full DATA packet at the base size every path carries. */
export const MAX_PAYLOAD = payloadRoom(MAX_DATAGRAM);

/**
 * Send keys advance by Noise REKEY (spec §11.3) every REKEY_INTERVAL packet
 * numbers. Both sides derive the epoch from the packet number itself, so no
 * signalling is needed and AES-GCM stays far below its per-key limit.
 */
export const DEFAULT_REKEY_INTERVAL = 2 ** 24;
/** We refuse to send past this packet number: the session must be replaced. */
export const MAX_PACKET_NUMBER = 2 ** 52;
/**
 * Longest wait between probes while nothing is acknowledged: a probe is one
 * small packet, and this bounds how long after a blackout ends we notice.
 */
export const MAX_PTO = 1000;
/** RFC 9000 §13.2.1: our max_ack_delay, advertised implicitly (both sides use it). */
export const MAX_ACK_DELAY = 5;

/** What a sent packet carried, so its data can be re-sent if it is lost. */
export interface SentFrames {
  /**
   * The first STREAM frame's stream (-1: none), offset and length, in fields
   * of the record: a packet nearly always carries one (a run across messages,
   * SendStream.nextRun), so no array is made for it (issue 16).
   */
  streamId: number;
  offset: number;
  length: number;
  /** Triples of (streamId, offset, length) for any further STREAM frames; read only. */
  more: readonly number[];
  /** Largest packet number our ACK frame in it acknowledged, or -1. */
  ackLargest: number;
}

export interface SessionInit {
  localIndex: number;
  remoteIndex: number;
  initiator: boolean;
  /** Static key of the side that initiated, for the simultaneous-open tie-break. */
  initiatorStatic: Buffer;
  remoteStatic: Buffer;
  sendKey: PacketKey;
  recvKey: PacketKey;
  path: Addr;
  now: number;
  rekeyInterval?: number;
  /** Largest datagram path-MTU discovery may find (default BASE_PLPMTU: no search). */
  maxDatagram?: number;
}

export type OpenResult =
  | { ok: true; payload: Uint8Array; newest: boolean }
  | { ok: false; reason: 'replay' | 'decrypt' };

/**
 * The DATA header of the packet being sealed, as its associated data: a copy
 * of our own instead of a third view of the packet. One for all sessions
 * (seal runs to completion; nothing else writes it), not a typed array each.
 */
const SEAL_HEADER = new Uint8Array(DATA_HEADER_LENGTH);
/** The tag seal writes (detached), copied behind the payload; one for all sessions. */
const SEAL_TAG = new Uint8Array(TAG_LENGTH);
/** The received packet's header and tag, copied out for openDetached (see openPacket). */
const OPEN_HEADER = new Uint8Array(DATA_HEADER_LENGTH);
const OPEN_TAG = new Uint8Array(TAG_LENGTH);

/** ackRanges' answer and the pairs it is made of, for every session (see ackRanges). */
const ACK_OUT: { ranges: [number, number][]; delayMicros: number } = { ranges: [], delayMicros: 0 };
const ACK_PAIRS: [number, number][] = [];

// Failures are shared constants: a flood of forged packets allocates nothing.
const REPLAYED: OpenResult = Object.freeze({ ok: false, reason: 'replay' });
const UNAUTHENTIC: OpenResult = Object.freeze({ ok: false, reason: 'decrypt' });

export class Session {
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly initiator: boolean;
  readonly initiatorStatic: Buffer;
  readonly remoteStatic: Buffer;
  readonly createdAt: number;
  path: Addr;
  /**
   * The initiator's keys are usable at once, but it only knows the responder
   * has them after the first authenticated packet back; until then it keeps
   * re-sending its FINISH message (see `finish`).
   */
  confirmed: boolean;
  finish: Buffer | undefined;
  finishDeadline: number | undefined;
  finishAttempts = 0;
  /**
   * Path validation in progress (RFC 9000 §8.2): an authenticated packet came
   * from a new address, and we only move there once it echoes our challenge,
   * so nobody can point our traffic at an address that never answered.
   */
  probe: { addr: Addr; data: Buffer; tries: number; deadline: number } | undefined;
  /** PATH_RESPONSEs owed, each to the address its challenge came from. */
  readonly pathResponses: { to: Addr; data: Buffer }[] = [];
  /** The peer's stateless-reset token for this session (from its Hello). */
  remoteResetToken: Buffer | undefined;

  private sendKey: PacketKey;
  private sendEpoch = 0;
  private recvKey: PacketKey;
  private recvEpoch = 0;
  private prevRecvKey: PacketKey | undefined;
  private readonly rekeyInterval: number;
  private nextPn = 0;

  private readonly replay = new ReplayWindow();
  /** open()'s success, reused for every packet (see open). */
  private readonly opened: { ok: true; payload: Uint8Array; newest: boolean } = {
    ok: true,
    payload: new Uint8Array(0),
    newest: false,
  };
  /** Received packet numbers not yet known to be acknowledged by the peer. */
  private readonly toAck = new RangeSet();
  private largestReceivedAt = 0;
  private elicitingSinceAck = 0;
  ackDeadline: number | undefined;
  /**
   * The ACK for a lone packet of data skips the flush of the turn it arrived
   * in: a reply the application writes then (a promise hop later) leaves in
   * the next turn's flush and carries it, instead of an ACK-only datagram.
   */
  ackHeldForReply = false;

  readonly loss = new LossDetector<SentFrames>({ maxAckDelay: MAX_ACK_DELAY, maxPto: MAX_PTO });
  readonly pacer = new Pacer();
  /** The datagram size this path carries (RFC 8899); data packets fill `pmtu.size`. */
  readonly pmtu: PathMtu;
  lastReceived: number;
  lastSent: number;
  /** PINGs that may go to pull a raised srtt back down while idle (pings.ts). */
  readonly settle = new SettleBudget();
  packetsSent = 0;
  packetsReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(init: SessionInit) {
    this.localIndex = init.localIndex;
    this.remoteIndex = init.remoteIndex;
    this.initiator = init.initiator;
    this.initiatorStatic = init.initiatorStatic;
    this.remoteStatic = init.remoteStatic;
    this.sendKey = init.sendKey;
    this.recvKey = init.recvKey;
    this.path = init.path;
    this.createdAt = init.now;
    this.lastReceived = init.now;
    this.lastSent = init.now;
    this.confirmed = !init.initiator;
    this.rekeyInterval = init.rekeyInterval ?? DEFAULT_REKEY_INTERVAL;
    this.pmtu = new PathMtu(init.maxDatagram ?? BASE_PLPMTU);
  }

  get exhausted(): boolean {
    return this.nextPn >= MAX_PACKET_NUMBER;
  }

  /**
   * Authenticates and decrypts a DATA datagram in place (`datagram` whole:
   * header, ciphertext, tag). The replay window is consulted first and
   * moved only after authentication succeeded.
   *
   * The header (associated data) and the tag are copied into buffers shared
   * by every session, so the only object per packet is the payload view the
   * frames are read from (a view each for header, ciphertext and payload
   * was ~290 B of heap per datagram, issue 16). The result object is this
   * session's own, overwritten by the next call: read it before opening
   * another packet (the endpoint does, at once).
   */
  openPacket(datagram: Uint8Array, pn: number, now: number): OpenResult {
    const bodyEnd = datagram.length - TAG_LENGTH;
    for (let i = 0; i < DATA_HEADER_LENGTH; i++) OPEN_HEADER[i] = datagram[i]!;
    for (let i = 0; i < TAG_LENGTH; i++) OPEN_TAG[i] = datagram[bodyEnd + i]!;
    return this.openBody(pn, OPEN_HEADER, datagram, DATA_HEADER_LENGTH, bodyEnd, now);
  }

  /** As openPacket, for a header and ciphertext||tag given apart (tests, tools). */
  open(header: Uint8Array, pn: number, sealed: Uint8Array, now: number): OpenResult {
    const bodyEnd = sealed.length - TAG_LENGTH;
    if (bodyEnd < 0) return UNAUTHENTIC;
    for (let i = 0; i < TAG_LENGTH; i++) OPEN_TAG[i] = sealed[bodyEnd + i]!;
    return this.openBody(pn, header, sealed, 0, bodyEnd, now);
  }

  /** Opens `buf[start, end)` in place against OPEN_TAG and `header`. */
  private openBody(
    pn: number,
    header: Uint8Array,
    buf: Uint8Array,
    start: number,
    end: number,
    now: number,
  ): OpenResult {
    if (!this.replay.mayAccept(pn)) return REPLAYED;
    const epoch = Math.floor(pn / this.rekeyInterval);
    let key: PacketKey | undefined;
    let advance = false;
    if (epoch === this.recvEpoch) key = this.recvKey;
    else if (epoch === this.recvEpoch + 1) {
      key = this.recvKey.rekey();
      advance = true;
    } else if (epoch === this.recvEpoch - 1) key = this.prevRecvKey;
    if (!key) return UNAUTHENTIC;
    const payload = view(buf, start, end);
    if (!key.openDetached(pn, header, payload, OPEN_TAG)) return UNAUTHENTIC;
    if (advance) {
      this.prevRecvKey = this.recvKey;
      this.recvKey = key;
      this.recvEpoch = epoch;
    }
    const newest = pn > this.replay.highest;
    this.replay.commit(pn);
    this.packetsReceived++;
    this.bytesReceived += DATA_HEADER_LENGTH + end - start + TAG_LENGTH;
    this.lastReceived = now;
    if (!this.confirmed) {
      this.confirmed = true;
      this.finish = undefined;
      this.finishDeadline = undefined;
    }
    const opened = this.opened;
    opened.payload = payload;
    opened.newest = newest;
    return opened;
  }

  /**
   * Records a received packet for acknowledgement (RFC 9000 §13.2).
   * `carriedData`: it carried stream data; `pinged`: it carried a PING, which
   * asks for an ACK at once (below).
   */
  onPacketReceived(
    pn: number,
    ackEliciting: boolean,
    now: number,
    carriedData = false,
    pinged = false,
  ): void {
    if (pn >= (this.toAck.max ?? -1)) this.largestReceivedAt = now;
    this.toAck.insert(pn, pn + 1);
    // Bound the ranges we remember: the oldest are the least useful.
    while (this.toAck.size > MAX_ACK_RANGES) {
      this.toAck.remove(this.toAck.min!, this.toAck.firstEnd!);
    }
    if (!ackEliciting) return;
    this.elicitingSinceAck++;
    // §13.2.2: acknowledge at least every second ack-eliciting packet; else
    // within max_ack_delay. A lone packet of data is acknowledged one
    // event-loop turn later (see ackHeldForReply): a chat message is still
    // confirmed at once, and a reply written in that turn carries the ACK.
    // A PING is sent only when the sender has nothing else to send (a
    // keepalive, a probe, a handshake confirmation): it exists to be
    // acknowledged, and its round trip is a sample of the path. Held for
    // max_ack_delay, every such sample would include the hold, and min_rtt
    // (§5.2 of RFC 9002: never adjusted for ack delay) with it, so the
    // reported delay could never be subtracted: an idle loopback link read
    // 7-10 ms. So a PING works as the IMMEDIATE_ACK frame of the QUIC ACK
    // frequency extension (draft-ietf-quic-ack-frequency §5) does.
    if (this.elicitingSinceAck >= 2 || pinged) {
      this.ackDeadline = now;
      this.ackHeldForReply = false;
    } else if (carriedData) {
      this.ackDeadline = now;
      this.ackHeldForReply = true;
    } else this.ackDeadline ??= now + MAX_ACK_DELAY;
  }

  /**
   * Work done on the ACK ranges so far (RangeSet.work). The peer picks the
   * packet numbers it sends, in any order; MAX_ACK_RANGES keeps each
   * operation O(MAX_ACK_RANGES) whatever that order is. Tests bound it.
   */
  get ackRangeWork(): number {
    return this.toAck.work;
  }

  get hasAckToSend(): boolean {
    return this.toAck.size > 0 && this.elicitingSinceAck > 0;
  }

  ackDue(now: number): boolean {
    return this.ackDeadline !== undefined && this.ackDeadline <= now && !this.ackHeldForReply;
  }

  /**
   * Ranges for an ACK frame, descending, and the ack delay in microseconds.
   * The answer, its array and its pairs are shared by every session,
   * overwritten by the next call (the packet being assembled reads them at
   * once): one array and a pair per range per packet was ~0.5 KB per 1 KiB
   * round trip (issue 16).
   */
  ackRanges(now: number): { ranges: [number, number][]; delayMicros: number } {
    const out = ACK_OUT;
    const ranges = out.ranges;
    const set = this.toAck;
    const n = set.size;
    // Pairs are kept for reuse in ACK_PAIRS; `ranges` is emptied with pop
    // (length = 0 would free its backing store).
    while (ranges.length > 0) ranges.pop();
    for (let i = 0; i < n; i++) {
      let pair = ACK_PAIRS[i];
      if (pair === undefined) {
        pair = [0, 0];
        ACK_PAIRS.push(pair);
      }
      pair[0] = set.startAt(n - 1 - i);
      pair[1] = set.endAt(n - 1 - i);
      ranges.push(pair);
    }
    out.delayMicros = Math.max(0, Math.round((now - this.largestReceivedAt) * 1000));
    return out;
  }

  onAckSent(): void {
    this.elicitingSinceAck = 0;
    this.ackDeadline = undefined;
    this.ackHeldForReply = false;
  }

  /**
   * Once the peer acknowledged a packet that carried our ACK up to `largest`,
   * it no longer needs those ranges (RFC 9000 §13.2.4).
   */
  forgetAcksBelow(largest: number): void {
    this.toAck.removeBelow(largest);
  }

  /**
   * Seals the packet at `buf[at, ...)` in place: its payload is
   * `buf[at + DATA_HEADER_LENGTH, ... + payloadLength)`; the header is
   * written in front and the tag behind. Returns the packet number used.
   * `buf` must have room for the tag. (`at` lets the assembler seal where
   * it wrote, in the packet slab, before the packet has a Buffer of its own.)
   */
  seal(buf: Uint8Array, payloadLength: number, now: number, at = 0): number {
    // Our bug if it happens: the peer retires an exhausted session before sealing.
    if (this.nextPn >= MAX_PACKET_NUMBER) throw new Error('packet number space exhausted');
    const pn = this.nextPn++;
    const epoch = Math.floor(pn / this.rekeyInterval);
    while (epoch > this.sendEpoch) {
      this.sendKey = this.sendKey.rekey();
      this.sendEpoch++;
    }
    // The header goes into the packet and, as associated data, into our own
    // 14 bytes: writing it twice costs less than a view of the packet.
    writeDataHeader(SEAL_HEADER, this.remoteIndex, pn);
    buf.set(SEAL_HEADER, at);
    // One typed-array view per packet (not Buffer#subarray, see view()),
    // sealed in place; the tag is written detached and copied behind it.
    const bodyStart = at + DATA_HEADER_LENGTH;
    const tagAt = bodyStart + payloadLength;
    if (tagAt + TAG_LENGTH > buf.length) throw new RangeError('no room for the tag');
    const body = view(buf, bodyStart, tagAt);
    this.sendKey.sealDetached(pn, SEAL_HEADER, body, SEAL_TAG);
    buf.set(SEAL_TAG, tagAt);
    this.packetsSent++;
    this.bytesSent += DATA_HEADER_LENGTH + payloadLength + TAG_LENGTH;
    this.lastSent = now;
    return pn;
  }

  /** Deadline of this session's own timers (loss/PTO, delayed ACK, FINISH resend). */
  deadline(): number | undefined {
    let d = this.loss.deadline();
    if (this.ackDeadline !== undefined && (d === undefined || this.ackDeadline < d))
      d = this.ackDeadline;
    if (this.finishDeadline !== undefined && (d === undefined || this.finishDeadline < d)) {
      d = this.finishDeadline;
    }
    if (this.probe && (d === undefined || this.probe.deadline < d)) d = this.probe.deadline;
    return d;
  }
}

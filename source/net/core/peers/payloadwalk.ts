import { type FrameSink, walkFrames } from '../../wire/framewalk.js';
import type { Addr } from '../address.js';
import type { Session } from '../conn/session.js';

/**
 * What a decrypted payload's frames do to a peer, frame by frame. The peer
 * gives one of these to its PayloadWalk once; the walk calls it for each
 * frame of every packet.
 */
export interface PayloadTarget {
  ack(session: Session, ranges: readonly [number, number][], ackDelayMs: number, now: number): void;
  /** False: the data broke a bound and the session is gone; stop. */
  stream(
    streamId: number,
    offset: number,
    payload: Uint8Array,
    start: number,
    length: number,
    now: number,
  ): boolean;
  /** True when a PATH_RESPONSE was sent (one per packet: RFC 9000 §8.2.2). */
  challenge(session: Session, from: Addr, data: Uint8Array): boolean;
  response(session: Session, from: Addr, data: Uint8Array, now: number): void;
  close(session: Session, code: number, reason: string, now: number): void;
}

/** run()'s answer: the walk stopped (a CLOSE, or data that closed the session). */
export const WALK_STOPPED = -1;
/** run()'s answer bits: the packet elicits an ACK (RFC 9000 §13.2.1); it carried stream data. */
export const WALK_ELICITING = 1;
export const WALK_CARRIED_DATA = 2;
/** run()'s answer bit: the packet carried a PING (acknowledged at once: Session.onPacketReceived). */
export const WALK_PINGED = 4;

/**
 * A peer's frame walk over one packet's payload (issue 16): the frames come
 * by callback (wire/framewalk.ts) into this one reused object, where
 * decodeFrames built a frame object per frame, an array per packet and
 * pairs per ACK range (≈ 0.8 KB per 1 KiB round trip).
 */
export class PayloadWalk implements FrameSink {
  /** The WALK_ bits of the packet being walked. */
  private bits = 0;
  private challenged = false;
  private session: Session | undefined;
  private from: Addr | undefined;
  private now = 0;
  private busy = false;

  constructor(private readonly target: PayloadTarget) {}

  /**
   * Reports a checked payload's frames (checkFrames accepted it) to the
   * target: WALK_STOPPED, or the WALK_ bits of what the packet was. A walk
   * begun while another is running (a target that feeds a packet back in)
   * gets a walk of its own, so neither sees the other's flags.
   */
  run(session: Session, from: Addr, payload: Uint8Array, now: number): number {
    if (this.busy) return new PayloadWalk(this.target).run(session, from, payload, now);
    this.session = session;
    this.from = from;
    this.now = now;
    this.bits = 0;
    this.challenged = false;
    this.busy = true;
    try {
      return walkFrames(payload, this) ? this.bits : WALK_STOPPED;
    } finally {
      this.busy = false;
      this.session = undefined;
      this.from = undefined;
    }
  }

  onPing(): void {
    this.bits |= WALK_ELICITING | WALK_PINGED;
  }

  onAck(ranges: readonly [number, number][], ackDelayMicros: number): void {
    this.target.ack(this.session!, ranges, ackDelayMicros / 1000, this.now);
  }

  onStream(
    streamId: number,
    offset: number,
    payload: Uint8Array,
    start: number,
    length: number,
  ): boolean {
    this.bits |= WALK_ELICITING | WALK_CARRIED_DATA;
    return this.target.stream(streamId, offset, payload, start, length, this.now);
  }

  onPathChallenge(data: Uint8Array): void {
    this.bits |= WALK_ELICITING;
    if (!this.challenged) this.challenged = this.target.challenge(this.session!, this.from!, data);
  }

  onPathResponse(data: Uint8Array): void {
    this.target.response(this.session!, this.from!, data, this.now);
  }

  onClose(code: number, reason: string): void {
    this.target.close(this.session!, code, reason, this.now);
  }
}

import { TAG_LENGTH } from '../../crypto/cipher.js';
import {
  ackFrameLength,
  streamHeaderLength,
  writeAckFrame,
  writeCloseFrame,
  writePing,
  writeStreamHeader,
} from '../../wire/frames.js';
import {
  DATA_HEADER_LENGTH,
  dropPacket,
  keepPacket,
  MAX_DATAGRAM,
  packetSlab,
  reservePacket,
} from '../../wire/packet.js';
import type { Addr } from '../address.js';
import type { SendStream } from '../conn/sendstream.js';
import { MAX_PAYLOAD, payloadRoom, type SentFrames, type Session } from '../conn/session.js';

/**
 * The list of further STREAM frames of a packet that carried at most one
 * (nearly all): one frozen array for all (the list is only read: outbound.ts).
 */
const NO_STREAMS: readonly number[] = Object.freeze([]);
/** What a path-MTU probe carried: nothing to send again (shared, frozen). */
const NO_FRAMES: SentFrames = Object.freeze({
  streamId: -1,
  offset: 0,
  length: 0,
  more: NO_STREAMS,
  ackLargest: -1,
});

/** What the assembler needs from its peer's host. */
export interface AssemblerHost {
  transmit(to: Addr, data: Buffer): void;
}

/**
 * Packet assembly for one peer: which frames go into the next datagram of a
 * session (ACKs, stream data, a PING, path frames, an MTU probe), under the
 * congestion window and the pacer, and what is owed after a probe timeout.
 */
export class PacketAssembler {
  /** Ack-eliciting packets owed after a PTO (RFC 9002 §6.2.4). */
  probesPending = 0;
  /** An ack-eliciting packet is wanted at the next flush (a handshake to confirm, a keepalive). */
  pingRequested = false;
  /** When the pacer lets the next data packet go (undefined: not waiting on it). */
  pacingDeadline: number | undefined;
  /** Stream chunks sent again. */
  retransmits = 0;

  constructor(
    private readonly host: AssemblerHost,
    private readonly streams: () => Map<number, SendStream>,
  ) {}

  hasStreamData(): boolean {
    for (const s of this.streams().values()) if (s.hasDataToSend) return true;
    return false;
  }

  /** A non-current session only sends a due ACK. */
  flushOther(s: Session, now: number): void {
    if (s.hasAckToSend && s.ackDue(now)) this.sendPacket(s, now, false, false);
    s.ackHeldForReply = false;
  }

  /** Everything that may go now on the current session (path frames went first: paths.ts). */
  flushCurrent(s: Session, now: number): void {
    this.sendMtuProbe(s, now);
    this.pacingDeadline = undefined;
    const size = s.pmtu.size;
    for (let guard = 0; guard < 10_000; guard++) {
      const probe = this.probesPending > 0;
      let mayData = false;
      if (this.hasStreamData()) {
        if (probe) mayData = true;
        else if (s.loss.cc.canSend(size)) {
          const at = s.pacer.nextSendTime(
            size,
            s.loss.cc.congestionWindow,
            s.loss.rtt.smoothedRtt,
            now,
          );
          if (at <= now) mayData = true;
          else this.pacingDeadline = at;
        }
      }
      const mustAck = s.hasAckToSend && s.ackDue(now);
      if (!mayData && !probe && !this.pingRequested && !mustAck) break;
      this.sendPacket(s, now, mayData, true);
      if (probe) this.probesPending--;
    }
    // A held ACK skips this flush only: it is due at the next one.
    s.ackHeldForReply = false;
    // RFC 9002 §7.8: a window we are not filling (no data, or the stream
    // window is the limit) must not keep growing, or pacing (rate ∝ cwnd)
    // stops meaning anything and whole windows leave in bursts.
    const cc = s.loss.cc;
    cc.setAppLimited(
      !this.hasStreamData() && this.pacingDeadline === undefined && cc.canSend(size),
    );
  }

  /**
   * A due path-MTU probe (RFC 8899 §4.1, as RFC 9000 §14.3): a PING padded
   * to the size being tried, on a confirmed session, when the window has
   * room for it. Its ack or loss reaches `s.pmtu` from onAck / onTimeout.
   */
  private sendMtuProbe(s: Session, now: number): void {
    if (!s.confirmed) return;
    const size = s.pmtu.probeSize(now);
    if (size === undefined || !s.loss.cc.canSend(size)) return;
    const buf = Buffer.alloc(size);
    const payloadLength = payloadRoom(size);
    writePing(buf, DATA_HEADER_LENGTH); // the rest of the payload is PADDING (zeros)
    const pn = s.seal(buf, payloadLength, now);
    s.pmtu.onProbeSent(size);
    s.loss.onPacketSent({
      pn,
      timeSent: now,
      size,
      ackEliciting: true,
      inFlight: true,
      pmtuProbe: true,
      frames: NO_FRAMES,
    });
    this.host.transmit(s.path, buf);
  }

  private sendPacket(s: Session, now: number, withData: boolean, current: boolean): void {
    // The datagram is reserved in the packet slab; the frames are written
    // straight into it at `at` and sealed in place, and the packet's one
    // Buffer is made once its length is known (keepPacket).
    const mtu = s.pmtu.size;
    const at = reservePacket(mtu);
    const buf = packetSlab();
    let pos = at + DATA_HEADER_LENGTH;
    const end = pos + payloadRoom(mtu);
    // What the packet carried is recorded only if it is ack-eliciting (an
    // ACK-only packet is not tracked), so it is built at the end; its
    // stream list starts as an exact three-number literal (a push onto []
    // grew a backing store of ~20 slots per packet: issue 16).
    let ackLargest = -1;
    let firstStream = -1;
    let firstOffset = 0;
    let firstLength = 0;
    let more: number[] | undefined;
    let eliciting = false;
    if (s.hasAckToSend) {
      let { ranges, delayMicros } = s.ackRanges(now);
      while (ranges.length > 1 && ackFrameLength(ranges, delayMicros) > MAX_PAYLOAD / 2)
        ranges = ranges.slice(0, -1);
      if (ranges.length > 0) {
        pos = writeAckFrame(buf, pos, ranges, delayMicros);
        ackLargest = ranges[0]![1] - 1;
        s.onAckSent();
      }
    }
    if (withData && current) {
      for (const stream of this.streams().values()) {
        while (end - pos > streamHeaderLength(stream.id, 2 ** 40, 1200) + 16) {
          const room = end - pos - streamHeaderLength(stream.id, 2 ** 40, 1200);
          // One frame per contiguous run, across message boundaries (sendstream.ts nextRun).
          const run = stream.nextRun(room);
          if (!run) break;
          pos = writeStreamHeader(buf, pos, stream.id, run.offset, run.length);
          pos = stream.copyRun(buf, pos, run.offset, run.length);
          if (firstStream < 0) {
            firstStream = stream.id;
            firstOffset = run.offset;
            firstLength = run.length;
          } else if (more === undefined) more = [stream.id, run.offset, run.length];
          else more.push(stream.id, run.offset, run.length);
          if (run.retransmit) this.retransmits++;
          eliciting = true;
        }
      }
    }
    if (!eliciting && (this.pingRequested || this.probesPending > 0) && current) {
      pos = writePing(buf, pos);
      eliciting = true;
    }
    if (eliciting) this.pingRequested = false;
    const payloadLength = pos - at - DATA_HEADER_LENGTH;
    if (payloadLength === 0) {
      dropPacket(buf, at); // nothing to send: the slab space goes back
      return;
    }
    const pn = s.seal(buf, payloadLength, now, at);
    // Only the bytes used leave the slab (an ACK-only packet is ~40 of its 1,452).
    const out = keepPacket(buf, at, DATA_HEADER_LENGTH + payloadLength + TAG_LENGTH);
    const size = out.length;
    if (eliciting) {
      const frames: SentFrames = {
        streamId: firstStream,
        offset: firstOffset,
        length: firstLength,
        more: more ?? NO_STREAMS,
        ackLargest,
      };
      s.loss.onPacketSent({ pn, timeSent: now, size, ackEliciting: true, inFlight: true, frames });
      s.pacer.onPacketSent(size, s.loss.cc.congestionWindow, s.loss.rtt.smoothedRtt, now);
    }
    this.host.transmit(s.path, out);
  }
}

/** An authenticated CLOSE on `s`: how we end a session we will not keep. */
export function closePacket(s: Session, code: number, reason: string, now: number): Buffer {
  const buf = Buffer.allocUnsafe(MAX_DATAGRAM);
  let pos = DATA_HEADER_LENGTH;
  // Acknowledge what we received first (RFC 9000 §10.2.3 lets a closing
  // packet carry ACKs): a message that arrived just before we closed is
  // then known to be delivered instead of timing out at its sender.
  if (s.hasAckToSend) {
    let { ranges, delayMicros } = s.ackRanges(now);
    ranges = ranges.slice(0, 16);
    pos = writeAckFrame(buf, pos, ranges, delayMicros);
    s.onAckSent();
  }
  pos = writeCloseFrame(buf, pos, code, reason);
  const len = pos - DATA_HEADER_LENGTH;
  s.seal(buf, len, now);
  return buf.subarray(0, DATA_HEADER_LENGTH + len + TAG_LENGTH);
}

import { MAX_STREAM_GAPS, RecvStream } from '../conn/recvstream.js';
import { BadPacket } from '../errors.js';

/** Most streams a peer may open towards us. */
export const MAX_STREAMS = 4;
/**
 * Reassembly memory one peer may hold in us (out-of-order data and partial
 * messages, all streams), as RecvStream.chargedBytes counts it: whole pages
 * at their real cost. A well-behaved sender stays within SEND_WINDOW of early
 * data plus one partial message per stream (~6 MiB). Beyond it the peer is
 * violating the protocol and is cut off (RFC 9000 §21.7).
 */
export const PEER_REASSEMBLY_LIMIT = 16 * 1024 * 1024;
/**
 * Gaps (runs of early data) one peer may hold across all its streams: two
 * streams at full rate. A single stream is bounded by MAX_STREAM_GAPS.
 */
export const MAX_PEER_GAPS = 2 * MAX_STREAM_GAPS;

/**
 * One peer's receive streams and what they cost: every byte of reassembly
 * memory is charged to the peer and to the node (`reserve`), and a peer that
 * goes past a bound is cut off as a protocol violation (RFC 9000 §21.7).
 * The streams outlive sessions (a session switch loses nothing), and are
 * dropped when the peer's instance changes or it disconnects.
 */
export class Inbound {
  private streams = new Map<number, RecvStream>();
  /** Bytes charged across `streams` (also reported to the node-wide account). */
  private charged = 0;
  /** Why the last onStream refused the data (a protocol violation). */
  violation = '';

  /** `reserve(delta)` keeps the node-wide account; false when it is exceeded. */
  constructor(private readonly reserve: (delta: number) => boolean) {}

  /** The receive streams (read-only; tests and the chaos report look inside). */
  get recvStreams(): ReadonlyMap<number, RecvStream> {
    return this.streams;
  }

  /**
   * STREAM data from the peer (`payload[start, start + length)`): the
   * messages it completed, in order, or
   * undefined when the peer broke a bound (`violation` says which).
   */
  onStream(
    streamId: number,
    offset: number,
    payload: Uint8Array,
    start: number,
    length: number,
  ): Buffer[] | undefined {
    let stream = this.streams.get(streamId);
    if (!stream) {
      if (this.streams.size >= MAX_STREAMS) return this.refuse('too many streams');
      stream = new RecvStream(streamId);
      this.streams.set(streamId, stream);
    }
    let messages: Buffer[];
    const before = stream.chargedBytes;
    try {
      messages = stream.onDataAt(offset, payload, start, length);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      return this.refuse(err.message);
    }
    const delta = stream.chargedBytes - before;
    this.charged += delta;
    const globalOk = this.reserve(delta);
    let gaps = 0;
    for (const s of this.streams.values()) gaps += s.gaps;
    if (gaps > MAX_PEER_GAPS) return this.refuse('too many gaps across streams');
    if (this.charged > PEER_REASSEMBLY_LIMIT || !globalOk) {
      return this.refuse(
        globalOk ? 'reassembly limit exceeded' : 'node-wide reassembly limit exceeded',
      );
    }
    return messages;
  }

  /** Drops every receive stream and returns its memory to the node-wide account. */
  release(): void {
    this.streams = new Map();
    this.reserve(-this.charged);
    this.charged = 0;
  }

  private refuse(why: string): undefined {
    this.violation = why;
    return undefined;
  }
}

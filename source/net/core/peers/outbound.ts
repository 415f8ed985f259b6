import { CONTROL_STREAM } from '../../nat/introduce.js';
import type { SentPacket } from '../../recovery/sentlog.js';
import { type OutgoingMessage, SendStream } from '../conn/sendstream.js';
import type { SentFrames } from '../conn/session.js';

/** A message still owed to the peer (to move it to another record or instance). */
export interface QueuedMessage {
  id: number;
  streamId: number;
  data: Uint8Array;
}

/**
 * One peer's send streams (the counterpart of inbound.ts): what is queued,
 * in flight and acknowledged. They live on the peer, not on a session, so a
 * session switch or a path change loses nothing: data in flight on the old
 * session is requeued here and goes out on the new one.
 */
export class Outbound {
  private sendStreams = new Map<number, SendStream>();

  /** The assembler walks these for stream data (read by reference on every flush). */
  get streams(): Map<number, SendStream> {
    return this.sendStreams;
  }

  stream(id: number): SendStream {
    let s = this.sendStreams.get(id);
    if (!s) {
      s = new SendStream(id);
      this.sendStreams.set(id, s);
    }
    return s;
  }

  queue(id: number, streamId: number, data: Uint8Array): void {
    this.stream(streamId).write(id, data);
  }

  /** Bytes queued or in flight, not yet acknowledged (for backpressure). */
  get unacknowledgedBytes(): number {
    let n = 0;
    for (const s of this.sendStreams.values()) n += s.unacknowledged;
    return n;
  }

  /** True when application messages (not control traffic) wait for acknowledgement. */
  get hasQueuedMessages(): boolean {
    for (const s of this.sendStreams.values()) {
      if (s.id !== CONTROL_STREAM && s.unacknowledged > 0) return true;
    }
    return false;
  }

  /** Removes and returns every unacknowledged message (to move them to another record). */
  take(): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    for (const s of this.sendStreams.values()) {
      for (const m of s.pendingMessages()) out.push({ id: m.id, streamId: s.id, data: m.data });
    }
    this.sendStreams = new Map();
    return out;
  }

  pendingMessageIds(): number[] {
    const ids: number[] = [];
    for (const s of this.sendStreams.values()) for (const m of s.pendingMessages()) ids.push(m.id);
    return ids;
  }

  /**
   * The peer restarted (a new instance): its receive state is gone, so every
   * unacknowledged message starts again from offset 0 on fresh streams.
   */
  restart(): void {
    for (const m of this.take()) this.queue(m.id, m.streamId, m.data);
  }

  /** Packets declared lost (or abandoned with their session): their data goes again. */
  requeue(packets: SentPacket<SentFrames>[]): void {
    for (const p of packets) this.requeueFrames(p.frames);
  }

  requeueFrames(frames: SentFrames): void {
    if (frames.streamId < 0) return;
    this.sendStreams.get(frames.streamId)?.onLost(frames.offset, frames.length);
    const t = frames.more;
    for (let i = 0; i < t.length; i += 3) this.sendStreams.get(t[i]!)?.onLost(t[i + 1]!, t[i + 2]!);
  }

  /** The stream chunks an acknowledged packet carried; calls `delivered` for each completed message. */
  onAcked(frames: SentFrames, delivered: (m: OutgoingMessage) => void): void {
    if (frames.streamId < 0) return;
    this.ackedRange(frames.streamId, frames.offset, frames.length, delivered);
    const t = frames.more;
    for (let i = 0; i < t.length; i += 3) this.ackedRange(t[i]!, t[i + 1]!, t[i + 2]!, delivered);
  }

  private ackedRange(
    streamId: number,
    offset: number,
    length: number,
    delivered: (m: OutgoingMessage) => void,
  ): void {
    const stream = this.sendStreams.get(streamId);
    if (!stream) return;
    const done = stream.onAcked(offset, length);
    for (let j = 0; j < done.length; j++) delivered(done[j]!);
  }
}

import { describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '../../../../source/net/core/conn/sendstream.js';
import type { SentFrames } from '../../../../source/net/core/conn/session.js';
import { Outbound } from '../../../../source/net/core/peers/outbound.js';
import { CONTROL_STREAM } from '../../../../source/net/nat/introduce.js';

/**
 * One peer's send streams (outbound.ts) on their own: what counts as a
 * message waiting for the user, what a restarted peer is sent again, and
 * what a lost or acknowledged packet's record (its STREAM frames) does to
 * the streams, including records that name a stream no longer there.
 */

const APP_STREAM = 0;

/** A sent-packet record of the given (stream, offset, length) frames. */
function record(...frames: [number, number, number][]): SentFrames {
  const [first, ...rest] = frames;
  return {
    streamId: first ? first[0] : -1,
    offset: first ? first[1] : 0,
    length: first ? first[2] : 0,
    more: rest.flat(),
    ackLargest: -1,
  };
}

/** Everything the stream has to send now, as [offset, length, retransmit] runs. */
function drain(out: Outbound, streamId: number): [number, number, boolean][] {
  const runs: [number, number, boolean][] = [];
  const s = out.stream(streamId);
  for (let r = s.nextRun(1 << 20); r; r = s.nextRun(1 << 20))
    runs.push([r.offset, r.length, r.retransmit]);
  return runs;
}

const bytes = (n: number) => new Uint8Array(n).fill(7);

describe('Outbound', () => {
  it('control traffic alone is not a message waiting for the user; application data is', () => {
    const out = new Outbound();
    out.queue(1, CONTROL_STREAM, bytes(10));
    expect(out.unacknowledgedBytes).toBe(11);
    expect(out.hasQueuedMessages).toBe(false);
    out.queue(2, APP_STREAM, bytes(20));
    expect(out.unacknowledgedBytes).toBe(32);
    expect(out.hasQueuedMessages).toBe(true);
    const [[offset, length]] = drain(out, APP_STREAM) as [[number, number, boolean]];
    const delivered: number[] = [];
    out.onAcked(record([APP_STREAM, offset, length]), (m) => delivered.push(m.id));
    expect(delivered).toEqual([2]);
    expect(out.hasQueuedMessages).toBe(false);
  });

  it('a restarted peer gets every unacknowledged message again, from offset 0 on fresh streams', () => {
    const out = new Outbound();
    out.queue(1, APP_STREAM, bytes(5));
    out.queue(2, APP_STREAM, bytes(5));
    out.queue(3, 2, bytes(8));
    drain(out, APP_STREAM);
    drain(out, 2);
    // The first message (1 + 5 bytes) was acknowledged; the rest was in flight.
    out.onAcked(record([APP_STREAM, 0, 6]), () => {});
    const before = out.stream(APP_STREAM);
    out.restart();
    expect(out.stream(APP_STREAM)).not.toBe(before);
    expect(out.pendingMessageIds()).toEqual([2, 3]);
    expect(drain(out, APP_STREAM)).toEqual([[0, 6, false]]);
    expect(drain(out, 2)).toEqual([[0, 9, false]]);
  });

  it('a lost packet’s frames go again, each of them, and only those', () => {
    const out = new Outbound();
    out.queue(1, APP_STREAM, bytes(30));
    out.queue(2, 2, bytes(30));
    drain(out, APP_STREAM);
    drain(out, 2);
    out.requeue([
      {
        pn: 0,
        timeSent: 0,
        size: 100,
        ackEliciting: true,
        inFlight: true,
        frames: record([APP_STREAM, 5, 10], [2, 0, 4]),
      },
    ]);
    expect(drain(out, APP_STREAM)).toEqual([[5, 10, true]]);
    expect(drain(out, 2)).toEqual([[0, 4, true]]);
    // An ACK-only packet carried no stream data: nothing goes again.
    out.requeueFrames(record());
    expect(drain(out, APP_STREAM)).toEqual([]);
  });

  it('records naming a stream that is gone (taken to another record) are ignored, lost or acknowledged', () => {
    const out = new Outbound();
    out.queue(1, APP_STREAM, bytes(30));
    drain(out, APP_STREAM);
    expect(out.take().map((m) => m.id)).toEqual([1]);
    const delivered: OutgoingMessage[] = [];
    expect(() => out.requeueFrames(record([APP_STREAM, 0, 10], [5, 0, 10]))).not.toThrow();
    expect(() =>
      out.onAcked(record([APP_STREAM, 0, 31], [5, 0, 10]), (m) => delivered.push(m)),
    ).not.toThrow();
    expect(delivered).toEqual([]);
    expect(out.unacknowledgedBytes).toBe(0);
  });

  it('an acknowledged packet completes the messages of every frame it carried', () => {
    const out = new Outbound();
    out.queue(1, APP_STREAM, bytes(3));
    out.queue(2, 2, bytes(3));
    out.queue(3, 4, bytes(3));
    for (const id of [APP_STREAM, 2, 4]) drain(out, id);
    const delivered: number[] = [];
    out.onAcked(record([APP_STREAM, 0, 4], [2, 0, 4], [4, 0, 4]), (m) => delivered.push(m.id));
    expect(delivered).toEqual([1, 2, 3]);
    // Part of a message acknowledged completes nothing yet.
    out.queue(4, 2, bytes(10));
    drain(out, 2);
    out.onAcked(record([APP_STREAM, 0, 4], [2, 4, 5]), (m) => delivered.push(m.id));
    expect(delivered).toEqual([1, 2, 3]);
    out.onAcked(record([2, 9, 6]), (m) => delivered.push(m.id));
    expect(delivered).toEqual([1, 2, 3, 4]);
  });
});

import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import type { Session } from '../../../../source/net/core/conn/session.js';
import {
  type PayloadTarget,
  PayloadWalk,
  WALK_CARRIED_DATA,
  WALK_ELICITING,
  WALK_PINGED,
  WALK_STOPPED,
} from '../../../../source/net/core/peers/payloadwalk.js';
import {
  writeAckFrame,
  writeCloseFrame,
  writePathFrame,
  writePing,
  writeStreamFrame,
} from '../../../../source/net/wire/frames.js';

/**
 * A peer's frame walk over one payload (payloadwalk.ts) on its own: what each
 * frame tells the peer, with which session, address and time; what the
 * packet was (ack-eliciting, carried data: RFC 9000 §13.2.1); one
 * PATH_RESPONSE per packet (§8.2.2); and a walk begun inside another keeps
 * its own flags.
 */

const FROM: Addr = { address: '203.0.113.7', port: 4444 };
const OTHER_FROM: Addr = { address: '203.0.113.8', port: 5555 };
const S1 = { name: 's1' } as unknown as Session;
const S2 = { name: 's2' } as unknown as Session;

type Frame =
  | ['ping']
  | ['ack', [number, number][], number]
  | ['stream', number, number, string]
  | ['challenge' | 'response', number]
  | ['close', number, string];

/** A payload of the given frames, written with the wire's own writers. */
function payload(...frames: Frame[]): Uint8Array {
  const buf = Buffer.alloc(2048);
  let pos = 0;
  for (const f of frames) {
    switch (f[0]) {
      case 'ping':
        pos = writePing(buf, pos);
        break;
      case 'ack':
        pos = writeAckFrame(buf, pos, f[1], f[2]);
        break;
      case 'stream':
        pos = writeStreamFrame(buf, pos, f[1], f[2], Buffer.from(f[3]));
        break;
      case 'challenge':
      case 'response':
        pos = writePathFrame(buf, pos, f[0] === 'response', Buffer.alloc(8, f[1]));
        break;
      case 'close':
        pos = writeCloseFrame(buf, pos, f[1], f[2]);
        break;
    }
  }
  return buf.subarray(0, pos);
}

interface Call {
  what: string;
  session?: unknown;
  from?: Addr;
  args: unknown[];
}

/** A target that records every call (copying what is only valid during it). */
function recorder(opts: { takeChallenge?: boolean; stream?: (id: number) => boolean } = {}) {
  const calls: Call[] = [];
  const target: PayloadTarget = {
    ack: (session, ranges, ackDelayMs, now) =>
      calls.push({ what: 'ack', session, args: [ranges.map((r) => [...r]), ackDelayMs, now] }),
    stream: (streamId, offset, p, start, length, now) => {
      calls.push({
        what: 'stream',
        args: [streamId, offset, Buffer.from(p.subarray(start, start + length)).toString(), now],
      });
      return opts.stream ? opts.stream(streamId) : true;
    },
    challenge: (session, from, data) => {
      calls.push({ what: 'challenge', session, from, args: [data[0]] });
      return opts.takeChallenge ?? true;
    },
    response: (session, from, data, now) =>
      calls.push({ what: 'response', session, from, args: [data[0], now] }),
    close: (session, code, reason, now) =>
      calls.push({ what: 'close', session, args: [code, reason, now] }),
  };
  return { calls, target };
}

describe('PayloadWalk', () => {
  it('tells the target each frame, in order, with the session, the address and the time', () => {
    const { calls, target } = recorder();
    const walk = new PayloadWalk(target);
    const p = payload(
      ['ack', [[5, 9]], 25_000],
      ['stream', 3, 100, 'hi'],
      ['response', 7],
      ['challenge', 4],
    );
    expect(walk.run(S1, FROM, p, 1234)).toBe(WALK_ELICITING | WALK_CARRIED_DATA);
    expect(calls).toEqual([
      // The ACK delay comes in microseconds (RFC 9000 §19.3) and goes on in ms.
      { what: 'ack', session: S1, args: [[[5, 9]], 25, 1234] },
      { what: 'stream', args: [3, 100, 'hi', 1234] },
      { what: 'response', session: S1, from: FROM, args: [7, 1234] },
      { what: 'challenge', session: S1, from: FROM, args: [4] },
    ]);
  });

  it('what the packet was: ACK-only elicits nothing; a PING (at once), a PATH_CHALLENGE or data elicits', () => {
    const { target } = recorder();
    const walk = new PayloadWalk(target);
    expect(walk.run(S1, FROM, payload(['ack', [[0, 1]], 0]), 0)).toBe(0);
    expect(walk.run(S1, FROM, payload(['response', 1]), 0)).toBe(0);
    // A PING asks for its ACK at once (Session.onPacketReceived).
    expect(walk.run(S1, FROM, payload(['ping']), 0)).toBe(WALK_ELICITING | WALK_PINGED);
    expect(walk.run(S1, FROM, payload(['challenge', 1]), 0)).toBe(WALK_ELICITING);
    expect(walk.run(S1, FROM, payload(['stream', 0, 0, 'x']), 0)).toBe(
      WALK_ELICITING | WALK_CARRIED_DATA,
    );
    // Each packet starts afresh: nothing carries over from the one before.
    expect(walk.run(S1, FROM, payload(['ping']), 0)).toBe(WALK_ELICITING | WALK_PINGED);
    expect(walk.run(S1, FROM, payload(['ack', [[0, 1]], 0]), 0)).toBe(0);
  });

  it('one PATH_RESPONSE per packet: after a challenge is taken, the next in the packet is not offered', () => {
    const taken = recorder();
    const walk = new PayloadWalk(taken.target);
    walk.run(S1, FROM, payload(['challenge', 1], ['challenge', 2], ['challenge', 3]), 0);
    expect(taken.calls.map((c) => c.args[0])).toEqual([1]);
    // The next packet may be answered again.
    walk.run(S1, FROM, payload(['challenge', 4]), 0);
    expect(taken.calls.map((c) => c.args[0])).toEqual([1, 4]);
    // A challenge not taken (too many owed) leaves the next one its chance.
    const refused = recorder({ takeChallenge: false });
    new PayloadWalk(refused.target).run(S1, FROM, payload(['challenge', 1], ['challenge', 2]), 0);
    expect(refused.calls.map((c) => c.args[0])).toEqual([1, 2]);
  });

  it('stops at a CLOSE, and when the data closed the session', () => {
    const { calls, target } = recorder({ stream: (id) => id !== 9 });
    const walk = new PayloadWalk(target);
    expect(walk.run(S1, FROM, payload(['close', 0x1, 'bye'], ['ping']), 5)).toBe(WALK_STOPPED);
    expect(calls).toEqual([{ what: 'close', session: S1, args: [0x1, 'bye', 5] }]);
    calls.length = 0;
    expect(walk.run(S1, FROM, payload(['stream', 9, 0, 'too much'], ['challenge', 1]), 6)).toBe(
      WALK_STOPPED,
    );
    expect(calls.map((c) => c.what)).toEqual(['stream']);
  });

  it('a walk begun inside another (a target feeding a packet back in) has its own flags, session and address', () => {
    let walk: PayloadWalk | undefined;
    const inner: number[] = [];
    const { calls, target } = recorder({
      stream: (id) => {
        if (id === 1) inner.push(walk!.run(S2, OTHER_FROM, payload(['ack', [[0, 1]], 0]), 9));
        return true;
      },
    });
    walk = new PayloadWalk(target);
    const outer = walk.run(S1, FROM, payload(['stream', 1, 0, 'a'], ['challenge', 6]), 8);
    expect(inner).toEqual([0]);
    expect(outer).toBe(WALK_ELICITING | WALK_CARRIED_DATA);
    // The outer packet's challenge still goes to its own session and address.
    expect(calls.find((c) => c.what === 'challenge')).toEqual({
      what: 'challenge',
      session: S1,
      from: FROM,
      args: [6],
    });
    expect(calls.find((c) => c.what === 'ack')?.session).toBe(S2);
  });
});

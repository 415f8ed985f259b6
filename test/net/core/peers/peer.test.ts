import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import { MAX_PAYLOAD, Session } from '../../../../source/net/core/conn/session.js';
import { Peer } from '../../../../source/net/core/peers/peer.js';
import { createPacketKey, KEY_LENGTH, TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import { decodeFrames, type Frame } from '../../../../source/net/wire/frames.js';
import { decodePacket, MAX_DATAGRAM, PacketType } from '../../../../source/net/wire/packet.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';

/**
 * Peer's packet assembly and stream delivery, through its public methods only
 * (queueMessage, flush, onPayload, onTimeout, takeQueued): two peers joined by
 * a pair of sessions with shared keys and a virtual clock. The state machine
 * (connecting, restarts, closes) is the endpoint tests' business.
 */

const PATH_A: Addr = { address: '203.0.113.1', port: 1 };
const PATH_B: Addr = { address: '203.0.113.2', port: 2 };

class Host extends RecordingPeerHost {
  messages(): Buffer[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.data] : []));
  }
  delivered(): number[] {
    return this.events.flatMap((e) => (e.type === 'delivered' ? [e.id] : []));
  }
}

interface Side {
  host: Host;
  peer: Peer;
  session: Session;
  path: Addr;
}

function link() {
  const ab = randomBytes(KEY_LENGTH);
  const ba = randomBytes(KEY_LENGTH);
  const statics = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)] as const;
  const side = (initiator: boolean, send: Buffer, recv: Buffer, path: Addr): Side => {
    const host = new Host();
    const session = new Session({
      localIndex: initiator ? 1 : 2,
      remoteIndex: initiator ? 2 : 1,
      initiator,
      initiatorStatic: statics[0],
      remoteStatic: initiator ? statics[1] : statics[0],
      sendKey: createPacketKey('chacha20-poly1305', send),
      recvKey: createPacketKey('chacha20-poly1305', recv),
      // Where this side sends: the other's address.
      path,
      now: 0,
    });
    session.loss.rtt.update(20, 0, 0);
    const peer = new Peer(initiator ? 1 : 2, initiator ? 'bob' : 'alice', true, [path], 0, host);
    expect(peer.adoptSession(session, Buffer.alloc(32, initiator ? 9 : 8), 0)).toBe('connected');
    // transition() reports the change: exactly one 'connected' event, then a clean slate.
    expect(host.events).toEqual([
      { type: 'peer', nick: initiator ? 'bob' : 'alice', change: 'connected' },
    ]);
    host.events.length = 0;
    return { host, peer, session, path };
  };
  const a = side(true, ab, ba, PATH_B);
  const b = side(false, ba, ab, PATH_A);
  /** The frames in a datagram `a` (or `b`) sent, read with a key of our own. */
  const framesFrom = (sender: Side, datagram: Buffer): Frame[] => {
    const p = decodePacket(datagram);
    if (p.type !== PacketType.Data) throw new Error('not DATA');
    const key = createPacketKey('chacha20-poly1305', sender === a ? ab : ba);
    const plain = Buffer.alloc(p.sealed.length - TAG_LENGTH);
    if (!key.open(p.pn, p.header, p.sealed, plain)) throw new Error('does not open');
    return decodeFrames(plain);
  };
  return { a, b, framesFrom };
}

/** Takes what `from` sent so far and hands it to `to` (unless `drop` says no). */
function deliver(from: Side, to: Side, now: number, drop: () => boolean = () => false) {
  const out = from.host.sent.splice(0);
  out.forEach((d) => {
    if (drop()) return;
    const p = decodePacket(d);
    if (p.type !== PacketType.Data) throw new Error('not DATA');
    const opened = to.session.open(p.header, p.pn, Buffer.from(p.sealed), now);
    if (!opened.ok) throw new Error(`could not open: ${opened.reason}`);
    // It comes from where `to` sends: no path validation starts.
    to.peer.onPayload(to.session, p.pn, opened.payload, to.session.path, now);
  });
  return out;
}

/**
 * Runs both peers on a 1 ms virtual clock until `done` or `limit` ms; `lose`
 * may drop any datagram. Returns how many datagrams were sent, and how many
 * were larger than a datagram may be.
 */
function run(a: Side, b: Side, done: () => boolean, lose: (from: Side) => boolean = () => false) {
  let datagrams = 0;
  let oversize = 0;
  for (let now = 0; now <= 60_000 && !done(); now++) {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const due = from.peer.deadline();
      if (due !== undefined && due <= now) from.peer.onTimeout(now);
      from.peer.flush(now);
      datagrams += from.host.sent.length;
      for (const d of from.host.sent) if (d.length > MAX_DATAGRAM) oversize++;
      deliver(from, to, now, () => lose(from));
    }
  }
  return { datagrams, oversize };
}

describe('Peer: packet assembly', () => {
  it('a small message leaves in one packet, arrives intact and is reported delivered', () => {
    const { a, b, framesFrom } = link();
    a.peer.queueMessage(7, 0, Buffer.from('hello'));
    // The stream carries [varint length][bytes] (stream.ts): 1 + 5.
    expect(a.peer.unacknowledgedBytes).toBe(6);
    expect(a.peer.hasQueuedMessages).toBe(true);
    a.peer.flush(0);
    expect(a.host.sent).toHaveLength(1);
    const frames = framesFrom(a, a.host.sent[0]!);
    // Stream 0 from offset 0: the length prefix and the bytes in one STREAM frame.
    expect(frames.map((f) => f.type === 'stream' && [f.streamId, f.offset, f.data.length])).toEqual(
      [[0, 0, 6]],
    );
    deliver(a, b, 1);
    expect(b.host.messages().map(String)).toEqual(['hello']);
    expect(b.host.events).toEqual([
      { type: 'message', nick: 'alice', stream: 0, data: Buffer.from('hello') },
    ]);
    // b owes an ACK for a lone data packet one flush later (held for a reply).
    b.peer.flush(1);
    expect(b.host.sent).toHaveLength(0);
    b.peer.flush(2);
    expect(b.host.sent).toHaveLength(1);
    deliver(b, a, 3);
    expect(a.host.delivered()).toEqual([7]);
    expect(a.peer.unacknowledgedBytes).toBe(0);
    expect(a.peer.hasQueuedMessages).toBe(false);
  });

  it('a reply carries the held ACK: one packet back, not two', () => {
    const { a, b, framesFrom } = link();
    a.peer.queueMessage(1, 0, Buffer.from('ping?'));
    a.peer.flush(0);
    deliver(a, b, 1);
    b.peer.queueMessage(2, 0, Buffer.from('pong!'));
    b.peer.flush(1);
    expect(b.host.sent).toHaveLength(1);
    const frames = framesFrom(b, b.host.sent[0]!);
    expect(frames[0]?.type).toBe('ack');
    expect(frames.slice(1).every((f) => f.type === 'stream')).toBe(true);
    deliver(b, a, 2);
    expect(a.host.delivered()).toEqual([1]);
    expect(a.host.messages().map(String)).toEqual(['pong!']);
  });

  it('small messages on several streams share one packet', () => {
    const { a, b } = link();
    a.peer.queueMessage(1, 0, Buffer.from('zero'));
    a.peer.queueMessage(2, 2, Buffer.from('two'));
    a.peer.queueMessage(3, 3, Buffer.from('three'));
    a.peer.flush(0);
    expect(a.host.sent).toHaveLength(1);
    deliver(a, b, 1);
    expect(
      b.host.events.flatMap((e) => (e.type === 'message' ? [[e.stream, String(e.data)]] : [])),
    ).toEqual([
      [0, 'zero'],
      [2, 'two'],
      [3, 'three'],
    ]);
  });

  it('a large message fills whole packets: within 2 % of bytes / payload', () => {
    const { a, b } = link();
    const big = randomBytes(200_000);
    a.peer.queueMessage(1, 0, big);
    const { datagrams, oversize } = run(a, b, () => a.host.delivered().length === 1);
    expect(oversize).toBe(0);
    expect(b.host.messages()).toEqual([big]);
    // Data packets from a: at least bytes / payload, and little more (frame
    // headers and the message's length prefix); plus b's ACKs.
    const sentByA = a.session.packetsSent;
    const floor = Math.ceil(big.length / MAX_PAYLOAD);
    expect(sentByA).toBeGreaterThanOrEqual(floor);
    expect(sentByA).toBeLessThanOrEqual(Math.ceil(floor * 1.02) + 1);
    expect(datagrams).toBe(a.session.packetsSent + b.session.packetsSent);
    expect(b.host.reserved).toBe(0);
  });

  it('lost packets are sent again and the message still arrives once, intact', () => {
    const { a, b } = link();
    const big = randomBytes(50_000);
    a.peer.queueMessage(1, 0, big);
    // Every fifth datagram from a is lost.
    let fromA = 0;
    const { oversize } = run(
      a,
      b,
      () => a.host.delivered().length === 1,
      (from) => from === a && ++fromA % 5 === 0,
    );
    expect(b.host.messages()).toEqual([big]);
    expect(a.peer.totals().retransmits).toBeGreaterThan(0);
    expect(a.peer.totals().packetsLost).toBeGreaterThan(0);
    expect(a.host.delivered()).toEqual([1]);
    expect(oversize).toBe(0);
  });

  it('takeQueued hands back every unacknowledged message and leaves nothing to send', () => {
    const { a } = link();
    a.peer.queueMessage(1, 0, Buffer.from('one'));
    a.peer.queueMessage(2, 2, Buffer.from('two'));
    expect(a.peer.pendingMessageIds().sort()).toEqual([1, 2]);
    const taken = a.peer.takeQueued();
    expect(taken.map((m) => [m.id, m.streamId, String(m.data)])).toEqual([
      [1, 0, 'one'],
      [2, 2, 'two'],
    ]);
    expect(a.peer.unacknowledgedBytes).toBe(0);
    a.peer.flush(0);
    expect(a.host.sent).toHaveLength(0);
  });

  it('a ping request sends one ack-eliciting packet even with no data', () => {
    const { a, framesFrom } = link();
    a.peer.requestPing();
    a.peer.flush(0);
    expect(a.host.sent).toHaveLength(1);
    expect(framesFrom(a, a.host.sent[0]!)).toEqual([{ type: 'ping' }]);
    a.host.sent.length = 0;
    a.peer.flush(1);
    expect(a.host.sent).toHaveLength(0);
  });

  it('undecodable frames are dropped as protocol and change nothing', () => {
    const { b } = link();
    expect(b.peer.onPayload(b.session, 0, Buffer.from([0xff, 0xff, 0xff]), PATH_A, 0)).toBe(true);
    expect(b.host.drops).toEqual(['protocol']);
    expect(b.host.events).toEqual([]);
    expect(b.peer.connected).toBe(true);
  });
});

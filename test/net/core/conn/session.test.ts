import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MAX_ACK_DELAY,
  MAX_PACKET_NUMBER,
  MAX_PAYLOAD,
  MAX_PTO,
  payloadRoom,
  Session,
  type SessionInit,
} from '../../../../source/net/core/conn/session.js';
import { createPacketKey, KEY_LENGTH, TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import { MAX_ACK_RANGES } from '../../../../source/net/wire/frames.js';
import {
  DATA_HEADER_LENGTH,
  decodePacket,
  MAX_DATAGRAM,
  PacketType,
} from '../../../../source/net/wire/packet.js';

/**
 * Session: per-packet AEAD with epoch rekeying (Noise §11.3, epoch = pn /
 * rekeyInterval), the replay window consulted before and moved only after
 * authentication, and the ACK bookkeeping of RFC 9000 §13.2.
 */

const PATH = { address: '203.0.113.9', port: 9 };

interface Sealed {
  pn: number;
  header: Buffer;
  sealed: Buffer;
  plain: Buffer;
}

function pair(rekeyInterval?: number) {
  const ab = randomBytes(KEY_LENGTH);
  const ba = randomBytes(KEY_LENGTH);
  const base = (init: Partial<SessionInit>): SessionInit => ({
    localIndex: 0,
    remoteIndex: 0,
    initiator: true,
    initiatorStatic: Buffer.alloc(32, 1),
    remoteStatic: Buffer.alloc(32, 2),
    sendKey: createPacketKey('chacha20-poly1305', ab),
    recvKey: createPacketKey('chacha20-poly1305', ba),
    path: PATH,
    now: 0,
    ...(rekeyInterval === undefined ? {} : { rekeyInterval }),
    ...init,
  });
  const sender = new Session(base({ localIndex: 11, remoteIndex: 22, initiator: true }));
  const receiver = new Session(
    base({
      localIndex: 22,
      remoteIndex: 11,
      initiator: false,
      sendKey: createPacketKey('chacha20-poly1305', ba),
      recvKey: createPacketKey('chacha20-poly1305', ab),
    }),
  );
  return { sender, receiver, ab };
}

/** Seals `count` packets from `s`, each carrying its index as text. */
function sealMany(s: Session, count: number, now = 0): Sealed[] {
  const out: Sealed[] = [];
  for (let i = 0; i < count; i++) {
    const plain = Buffer.from(`packet ${i}`);
    const buf = Buffer.alloc(DATA_HEADER_LENGTH + plain.length + TAG_LENGTH);
    plain.copy(buf, DATA_HEADER_LENGTH);
    const pn = s.seal(buf, plain.length, now);
    out.push({
      pn,
      header: Buffer.from(buf.subarray(0, DATA_HEADER_LENGTH)),
      sealed: Buffer.from(buf.subarray(DATA_HEADER_LENGTH)),
      plain,
    });
  }
  return out;
}

function open(s: Session, p: Sealed, now = 0) {
  // open decrypts in place: give it a copy so a packet can be offered twice.
  return s.open(p.header, p.pn, Buffer.from(p.sealed), now);
}

function openedText(r: ReturnType<Session['open']>): string | undefined {
  return r.ok ? Buffer.from(r.payload).toString() : undefined;
}

describe('Session sealing', () => {
  it('numbers packets from 0 and writes the peer index and pn into the DATA header', () => {
    const { sender } = pair();
    const packets = sealMany(sender, 3, 42);
    expect(packets.map((p) => p.pn)).toEqual([0, 1, 2]);
    for (const p of packets) {
      const decoded = decodePacket(Buffer.concat([p.header, p.sealed]));
      expect(decoded).toMatchObject({ type: PacketType.Data, receiver: 22, pn: p.pn });
    }
    expect(sender.packetsSent).toBe(3);
    expect(sender.bytesSent).toBe(
      packets.reduce((n, p) => n + DATA_HEADER_LENGTH + p.sealed.length, 0),
    );
    expect(sender.lastSent).toBe(42);
  });

  it('payloadRoom leaves room for the header and the tag', () => {
    expect(payloadRoom(100)).toBe(100 - DATA_HEADER_LENGTH - TAG_LENGTH);
    expect(MAX_PAYLOAD).toBe(MAX_DATAGRAM - DATA_HEADER_LENGTH - TAG_LENGTH);
  });

  it('advances the send key every rekeyInterval packet numbers (epoch = pn / interval)', () => {
    const { sender, ab } = pair(4);
    const packets = sealMany(sender, 12);
    const k0 = createPacketKey('chacha20-poly1305', ab);
    const k1 = k0.rekey();
    const k2 = k1.rekey();
    const opensWith = (key: typeof k0, p: Sealed) =>
      key.open(p.pn, p.header, Buffer.from(p.sealed), Buffer.alloc(p.plain.length));
    for (const p of packets) {
      const epoch = Math.floor(p.pn / 4);
      expect([opensWith(k0, p), opensWith(k1, p), opensWith(k2, p)]).toEqual([
        epoch === 0,
        epoch === 1,
        epoch === 2,
      ]);
    }
  });

  it('seals the last packet number, then refuses: a nonce is never used twice', () => {
    // An interval of 2^51 keeps the jump to the last pn to one rekey.
    const { sender } = pair(2 ** 51);
    (sender as unknown as { nextPn: number }).nextPn = MAX_PACKET_NUMBER - 1;
    const [last] = sealMany(sender, 1);
    expect(last!.pn).toBe(MAX_PACKET_NUMBER - 1);
    expect(sender.exhausted).toBe(true);
    expect(() => sealMany(sender, 1)).toThrow('packet number space exhausted');
    expect(sender.packetsSent).toBe(1);
  });

  it('keeps one key for the default interval (2^24 packets)', () => {
    const { sender, ab } = pair();
    const k0 = createPacketKey('chacha20-poly1305', ab);
    for (const p of sealMany(sender, 40)) {
      expect(k0.open(p.pn, p.header, Buffer.from(p.sealed), Buffer.alloc(p.plain.length))).toBe(
        true,
      );
    }
  });
});

describe('Session opening across epochs', () => {
  it('opens epoch n+1 (and moves to it), opens n-1, drops n-2 as decrypt', () => {
    const { sender, receiver } = pair(4);
    const p = sealMany(sender, 16); // epochs 0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3
    expect(openedText(open(receiver, p[0]!))).toBe('packet 0'); // epoch 0 = n
    expect(openedText(open(receiver, p[5]!))).toBe('packet 5'); // epoch 1 = n+1: n becomes 1
    expect(openedText(open(receiver, p[1]!))).toBe('packet 1'); // epoch 0 = n-1
    expect(openedText(open(receiver, p[9]!))).toBe('packet 9'); // epoch 2 = n+1: n becomes 2
    expect(openedText(open(receiver, p[6]!))).toBe('packet 6'); // epoch 1 = n-1
    expect(open(receiver, p[2]!)).toEqual({ ok: false, reason: 'decrypt' }); // epoch 0 = n-2
    expect(openedText(open(receiver, p[10]!))).toBe('packet 10'); // still at epoch 2
    expect(receiver.packetsReceived).toBe(6);
  });

  it('drops a packet two epochs ahead as decrypt (only n+1 is tried) and stays usable', () => {
    const { sender, receiver } = pair(4);
    const p = sealMany(sender, 12);
    expect(open(receiver, p[8]!)).toEqual({ ok: false, reason: 'decrypt' });
    expect(openedText(open(receiver, p[4]!))).toBe('packet 4');
    expect(openedText(open(receiver, p[8]!))).toBe('packet 8');
  });

  it('a forged packet of epoch n+1 does not move the epoch or the replay window', () => {
    const { sender, receiver } = pair(4);
    const p = sealMany(sender, 12);
    const forged = { ...p[4]!, sealed: Buffer.from(p[4]!.sealed) };
    forged.sealed[0]! ^= 1;
    expect(open(receiver, forged)).toEqual({ ok: false, reason: 'decrypt' });
    // Had the forgery advanced the keys to epoch 1, epoch 2 would open now.
    expect(open(receiver, p[8]!)).toEqual({ ok: false, reason: 'decrypt' });
    // Had it been committed to the replay window, the real pn 4 would be a replay.
    expect(openedText(open(receiver, p[4]!))).toBe('packet 4');
    expect(receiver.packetsReceived).toBe(1);
  });

  it('rejects a replayed packet as replay, before any decryption', () => {
    const { sender, receiver } = pair();
    const [p0] = sealMany(sender, 1);
    expect(open(receiver, p0!).ok).toBe(true);
    expect(open(receiver, p0!)).toEqual({ ok: false, reason: 'replay' });
    expect(receiver.packetsReceived).toBe(1);
  });

  it('reports whether a packet is the newest seen, and counts bytes and time', () => {
    const { sender, receiver } = pair();
    const p = sealMany(sender, 3);
    // open() reuses one result object (no allocation per packet): read each before the next.
    const r2 = open(receiver, p[2]!, 7);
    expect(r2.ok && r2.newest).toBe(true);
    const r0 = open(receiver, p[0]!, 9);
    expect(r0.ok && r0.newest).toBe(false);
    expect(receiver.lastReceived).toBe(9);
    expect(receiver.bytesReceived).toBe(
      2 * DATA_HEADER_LENGTH + p[2]!.sealed.length + p[0]!.sealed.length,
    );
  });

  it('an initiator is confirmed by the first authenticated packet, which ends FINISH resends', () => {
    const { sender, receiver } = pair();
    // receiver is the responder (confirmed at once); make the sender wait on one.
    expect(receiver.confirmed).toBe(true);
    expect(sender.confirmed).toBe(false);
    sender.finish = Buffer.from('finish');
    sender.finishDeadline = 100;
    const reply = sealMany(receiver, 1)[0]!;
    const bad = { ...reply, sealed: Buffer.from(reply.sealed) };
    bad.sealed[bad.sealed.length - 1]! ^= 0x80;
    expect(open(sender, bad).ok).toBe(false);
    expect(sender.confirmed).toBe(false);
    expect(open(sender, reply).ok).toBe(true);
    expect(sender.confirmed).toBe(true);
    expect(sender.finish).toBeUndefined();
    expect(sender.finishDeadline).toBeUndefined();
  });
});

describe('Session ACK bookkeeping (RFC 9000 §13.2)', () => {
  it('acknowledges every second ack-eliciting packet at once', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10);
    expect(receiver.ackDeadline).toBe(10 + MAX_ACK_DELAY);
    expect(receiver.ackDue(10 + MAX_ACK_DELAY - 1)).toBe(false);
    expect(receiver.ackDue(10 + MAX_ACK_DELAY)).toBe(true);
    receiver.onPacketReceived(1, true, 12);
    expect(receiver.ackDeadline).toBe(12);
    expect(receiver.ackDue(12)).toBe(true);
  });

  it('holds the ACK for a lone data packet for one turn, so a reply can carry it', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10, true);
    expect(receiver.ackDeadline).toBe(10);
    expect(receiver.ackHeldForReply).toBe(true);
    expect(receiver.ackDue(10)).toBe(false);
    // A second ack-eliciting packet overrides the hold.
    receiver.onPacketReceived(1, true, 11, true);
    expect(receiver.ackHeldForReply).toBe(false);
    expect(receiver.ackDue(11)).toBe(true);
  });

  it('acknowledges a PING at once: its round trip is an RTT sample, not a wait', () => {
    // Held for max_ack_delay, every keepalive sample (and min_rtt) included the
    // hold: an idle loopback link read 7-10 ms (chat-truth issue).
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10, false, true);
    expect(receiver.ackDeadline).toBe(10);
    expect(receiver.ackHeldForReply).toBe(false);
    expect(receiver.ackDue(10)).toBe(true);
  });

  it('does not schedule an ACK for packets that elicit none', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, false, 10);
    expect(receiver.ackDeadline).toBeUndefined();
    expect(receiver.hasAckToSend).toBe(false);
    receiver.onPacketReceived(1, true, 11);
    expect(receiver.hasAckToSend).toBe(true);
  });

  it('reports ranges descending with the delay since the largest arrived, in µs', () => {
    const { receiver } = pair();
    for (const pn of [0, 1, 2, 5, 6, 9]) receiver.onPacketReceived(pn, true, pn);
    receiver.onPacketReceived(3, true, 20); // older: does not move the largest's time
    expect(receiver.ackRanges(12.5)).toEqual({
      ranges: [
        [9, 10],
        [5, 7],
        [0, 4],
      ],
      delayMicros: 3500,
    });
    receiver.onAckSent();
    expect(receiver.hasAckToSend).toBe(false);
    expect(receiver.ackDeadline).toBeUndefined();
    receiver.forgetAcksBelow(6);
    expect(receiver.ackRanges(12.5).ranges).toEqual([
      [9, 10],
      [6, 7],
    ]);
  });

  it(`remembers at most MAX_ACK_RANGES (${MAX_ACK_RANGES}) ranges, forgetting the oldest`, () => {
    const { receiver } = pair();
    for (let i = 0; i < MAX_ACK_RANGES + 10; i++) receiver.onPacketReceived(2 * i, true, i);
    const { ranges } = receiver.ackRanges(100);
    expect(ranges).toHaveLength(MAX_ACK_RANGES);
    expect(ranges[0]).toEqual([2 * (MAX_ACK_RANGES + 9), 2 * (MAX_ACK_RANGES + 9) + 1]);
    expect(ranges.at(-1)).toEqual([20, 21]);
  });

  it('deadline() is the earliest of the ACK, FINISH and path-probe timers', () => {
    const { sender } = pair();
    expect(sender.deadline()).toBeUndefined();
    sender.finishDeadline = 50;
    expect(sender.deadline()).toBe(50);
    sender.onPacketReceived(0, true, 30);
    expect(sender.deadline()).toBe(30 + MAX_ACK_DELAY);
    sender.probe = { addr: PATH, data: Buffer.alloc(8), tries: 1, deadline: 20 };
    expect(sender.deadline()).toBe(20);
  });

  it('deadline() is the minimum of whichever timers are set, in any order', () => {
    const values = [undefined, 10, 20, 30] as const;
    for (const ack of values) {
      for (const finish of values) {
        for (const probe of values) {
          const { sender } = pair();
          sender.ackDeadline = ack;
          sender.finishDeadline = finish;
          sender.probe =
            probe === undefined
              ? undefined
              : { addr: PATH, data: Buffer.alloc(8), tries: 0, deadline: probe };
          const set = [ack, finish, probe].filter((v): v is 10 | 20 | 30 => v !== undefined);
          const expected = set.length === 0 ? undefined : Math.min(...set);
          expect(sender.deadline(), `ack ${ack} finish ${finish} probe ${probe}`).toBe(expected);
        }
      }
    }
  });

  it('the ACK delay runs from when the largest arrived, even for consecutive packets and pn 0', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10);
    expect(receiver.ackRanges(12).delayMicros).toBe(2000);
    receiver.onPacketReceived(1, true, 15); // consecutive: the new largest
    expect(receiver.ackRanges(16).delayMicros).toBe(1000);
  });

  it('nothing to acknowledge once every range is forgotten', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10);
    receiver.onPacketReceived(1, true, 11);
    receiver.forgetAcksBelow(2);
    expect(receiver.hasAckToSend).toBe(false);
  });

  it('sending an ACK ends a hold for a reply', () => {
    const { receiver } = pair();
    receiver.onPacketReceived(0, true, 10, true);
    expect(receiver.ackHeldForReply).toBe(true);
    receiver.onAckSent();
    expect(receiver.ackHeldForReply).toBe(false);
  });

  it('probes a silent path at least every MAX_PTO, however many probes went unanswered', () => {
    // Without the session's own cap (LossDetector's default is 15 s) a blackout of a
    // few seconds would put the next probe far behind the path's return.
    const { sender } = pair();
    const frames = { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 };
    let pn = 0;
    sender.loss.onPacketSent({
      pn: pn++,
      timeSent: 0,
      size: 100,
      ackEliciting: true,
      inFlight: true,
      frames,
    });
    let now = 0;
    for (let i = 0; i < 12; i++) {
      const at = sender.loss.deadline()!;
      expect(at - now).toBeLessThanOrEqual(MAX_PTO);
      now = at;
      expect(sender.loss.onTimeout(now).probes).toBe(2);
      sender.loss.onPacketSent({
        pn: pn++,
        timeSent: now,
        size: 100,
        ackEliciting: true,
        inFlight: true,
        frames,
      });
    }
    // Before any RTT sample: 333 + 4 * 166.5 + MAX_ACK_DELAY = 1004 ms, capped at 1 s.
    expect(now).toBe(12 * MAX_PTO);
  });

  it('deadline() also weighs the loss timer (a packet in flight)', () => {
    for (const offset of [undefined, -5, 5] as const) {
      for (const which of ['ack', 'finish', 'probe'] as const) {
        const { sender } = pair();
        sender.loss.onPacketSent({
          pn: 0,
          timeSent: 0,
          size: 100,
          ackEliciting: true,
          inFlight: true,
          frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
        });
        const loss = sender.loss.deadline()!;
        expect(loss).toBeGreaterThan(0);
        const at = offset === undefined ? undefined : loss + offset;
        if (which === 'ack') sender.ackDeadline = at;
        if (which === 'finish') sender.finishDeadline = at;
        if (which === 'probe' && at !== undefined)
          sender.probe = { addr: PATH, data: Buffer.alloc(8), tries: 0, deadline: at };
        expect(sender.deadline(), `${which} at loss ${offset}`).toBe(Math.min(loss, at ?? loss));
      }
    }
  });
});

/**
 * Objects per packet on the receive path (issue #16: allocation-free hot
 * paths). Each test pins one allocation the profile charged to every
 * datagram: the open() result, onData()'s empty answer, and Buffer views
 * where plain typed-array views do (Buffer#subarray goes through the species
 * constructor, about twice the cost).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { PAGE_COST } from '../../../../source/net/core/conn/pages.js';
import { RecvStream } from '../../../../source/net/core/conn/recvstream.js';
import { SendStream } from '../../../../source/net/core/conn/sendstream.js';
import { MAX_PAYLOAD, Session } from '../../../../source/net/core/conn/session.js';
import { PacketAssembler } from '../../../../source/net/core/peers/assembler.js';
import {
  createPacketKey,
  type PacketKey,
  TAG_LENGTH,
} from '../../../../source/net/crypto/cipher.js';
import {
  DATA_HEADER_LENGTH,
  decodePacket,
  PacketType,
} from '../../../../source/net/wire/packet.js';
import { writeVarint } from '../../../../source/net/wire/reader.js';

function pair(): { tx: Session; rx: Session } {
  const k = randomBytes(32);
  const make = (local: number, remote: number) =>
    new Session({
      localIndex: local,
      remoteIndex: remote,
      initiator: false,
      initiatorStatic: Buffer.alloc(32),
      remoteStatic: Buffer.alloc(32),
      sendKey: createPacketKey('chacha20-poly1305', k),
      recvKey: createPacketKey('chacha20-poly1305', k),
      path: { address: '127.0.0.1', port: 1 },
      now: 0,
    });
  return { tx: make(1, 2), rx: make(2, 1) };
}

function sealed(tx: Session, fill: number): Buffer {
  const buf = Buffer.alloc(DATA_HEADER_LENGTH + MAX_PAYLOAD + TAG_LENGTH, fill);
  tx.seal(buf, MAX_PAYLOAD, 0);
  return buf;
}

describe('receive path: objects per packet', () => {
  it('decodePacket gives DATA as plain typed-array views of the datagram (no copy, no Buffer)', () => {
    const { tx } = pair();
    const d = sealed(tx, 7);
    const p = decodePacket(d);
    if (p.type !== PacketType.Data) throw new Error('not DATA');
    expect(Buffer.isBuffer(p.sealed)).toBe(false);
    expect(Buffer.isBuffer(p.header)).toBe(false);
    expect(p.sealed.buffer).toBe(d.buffer);
    expect(p.sealed.byteOffset).toBe(d.byteOffset + DATA_HEADER_LENGTH);
    expect(p.sealed.length).toBe(MAX_PAYLOAD + TAG_LENGTH);
  });

  it('Session.open reuses one result object per session and shares its failures', () => {
    const { tx, rx } = pair();
    const results = new Set<object>();
    for (let i = 0; i < 50; i++) {
      const p = decodePacket(sealed(tx, i));
      if (p.type !== PacketType.Data) throw new Error('not DATA');
      const r = rx.open(p.header, p.pn, p.sealed, 0);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.payload[0]).toBe(i); // decrypted in place, read before the next open
      expect(Buffer.isBuffer(r.payload)).toBe(false);
      results.add(r);
    }
    expect(results.size).toBe(1);
    const forged = sealed(tx, 1);
    forged[forged.length - 1]! ^= 1;
    const f = decodePacket(forged);
    if (f.type !== PacketType.Data) throw new Error('not DATA');
    const bad1 = rx.open(f.header, f.pn, f.sealed, 0);
    const replay = decodePacket(sealed(tx, 2));
    if (replay.type !== PacketType.Data) throw new Error('not DATA');
    rx.open(replay.header, replay.pn, replay.sealed, 0);
    const bad2 = rx.open(replay.header, replay.pn, replay.sealed, 0);
    expect(bad1).toEqual({ ok: false, reason: 'decrypt' });
    expect(bad2).toEqual({ ok: false, reason: 'replay' });
    const again = rx.open(f.header, f.pn, f.sealed, 0);
    expect(again).toBe(bad1);
  });

  it('RecvStream answers packets that complete no message with one shared empty array', () => {
    const s = new RecvStream(0);
    const message = 64 * 1024;
    const header = Buffer.alloc(4);
    writeVarint(header, 0, message);
    const answers = new Set<unknown>();
    let offset = 0;
    answers.add(s.onData(offset, header));
    offset += header.length;
    const chunk = 1170;
    let delivered = 0;
    while (offset < header.length + message) {
      const n = Math.min(chunk, header.length + message - offset);
      const out = s.onData(offset, new Uint8Array(n).fill(offset & 0xff));
      offset += n;
      if (out.length === 0) answers.add(out);
      else delivered += out.length;
    }
    expect(delivered).toBe(1);
    expect(answers.size).toBe(1);
    // A duplicate below the delivered prefix is the same empty answer.
    expect(answers.has(s.onData(0, header))).toBe(true);
  });

  it('SendStream.nextChunk reuses one answer and views the message without Buffer#subarray', () => {
    const s = new SendStream(0);
    const message = Buffer.alloc(10_000, 3);
    s.write(1, message);
    const answers = new Set<object>();
    let bytes = 0;
    for (let c = s.nextChunk(1170); c; c = s.nextChunk(1170)) {
      answers.add(c);
      bytes += c.data.length;
      // The first chunk is the joined head whole, handed out as itself; the
      // pieces after it are plain views, never Buffer#subarray.
      if (c.offset > 0) expect(Buffer.isBuffer(c.data)).toBe(false);
      // Past the first KiB (sent with the length header, see JOIN_MIN): a view, not a copy.
      if (c.offset >= 2 + 1024) expect(c.data.buffer).toBe(message.buffer);
    }
    expect(bytes).toBe(2 + message.length);
    expect(answers.size).toBe(1);
  });

  it('SendStream.nextChunk hands out a segment that fits whole as itself, not a view of it', () => {
    const s = new SendStream(0);
    const small = Buffer.alloc(100, 1);
    const big = Buffer.alloc(3000, 3);
    s.write(1, small);
    s.write(2, big);
    const got: Uint8Array[] = [];
    for (let c = s.nextChunk(4000); c; c = s.nextChunk(4000)) got.push(c.data);
    // Each message: its 2-byte length header, then its bytes, the application's Buffer itself.
    expect(got.map((d) => d.length)).toEqual([2, 100, 2, 3000]);
    expect(got[1]).toBe(small);
    expect(got[3]).toBe(big);
    // Sent again after a loss: the same object again, not a new view.
    s.onLost(104, 3000);
    expect(s.nextChunk(4000)!.data).toBe(big);
    // A piece of a segment is a plain view (never a Buffer#subarray).
    s.onLost(104, 10);
    const piece = s.nextChunk(4000)!.data;
    expect(piece.length).toBe(10);
    expect(Buffer.isBuffer(piece)).toBe(false);
    expect(piece.buffer).toBe(big.buffer);
  });

  it('a 1 KiB message leaves as one frame, uncopied, and is handed out without a copy or a page', () => {
    const tx = new SendStream(0);
    const rx = new RecvStream(0);
    const delivered: Buffer[] = [];
    let peak = 0;
    let frames = 0;
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      for (let m = 0; m < 20; m++) {
        tx.write(m, Buffer.alloc(1024, m));
        // Each packet's STREAM frames in a datagram of its own, as the assembler writes them.
        for (;;) {
          const datagram = new Uint8Array(1200);
          const at = 40; // header, ACK and frame header before the data
          const r = tx.nextRun(1200 - at);
          if (!r) break;
          tx.copyRun(datagram, at, r.offset, r.length);
          frames++;
          delivered.push(...rx.onDataAt(r.offset, datagram, at, r.length));
          peak = Math.max(peak, rx.chargedBytes);
        }
      }
      // No Buffer per message at the sender: its bytes are not copied, and its
      // 2-byte length header is written into the packet from the number.
      expect(alloc).not.toHaveBeenCalled();
    } finally {
      alloc.mockRestore();
    }
    expect(frames).toBe(20);
    expect(delivered.map((d) => d[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(delivered.every((d) => d.length === 1024)).toBe(true);
    // Never a reassembly page (PAGE_COST: 4 KiB + bitmap, for a 2-byte header).
    expect(peak).toBeLessThan(PAGE_COST);
  });

  it('RecvStream.onDataAt: a frame that is one whole message becomes it with no view of the frame', () => {
    // Counts the typed arrays our code makes (view() and the like go
    // through the global constructor; Buffer.from's FastBuffer does not).
    const Real = globalThis.Uint8Array;
    let views = 0;
    const counting = new Proxy(Real, {
      construct(target, args, newTarget) {
        views++;
        return Reflect.construct(target, args, newTarget);
      },
    });
    const rx = new RecvStream(0);
    const got: Buffer[] = [];
    let offset = 0;
    const datagrams: Uint8Array[] = [];
    for (let m = 0; m < 20; m++) {
      // As dgram gives them: each datagram its own ArrayBuffer, the frame at an offset in it.
      const d = new Uint8Array(1100);
      const at = 40;
      const pos = writeVarint(d, at, 1024);
      d.fill(m, pos, pos + 1024);
      datagrams.push(d);
      globalThis.Uint8Array = counting;
      try {
        for (const msg of rx.onDataAt(offset, d, at, 2 + 1024)) got.push(msg);
      } finally {
        globalThis.Uint8Array = Real;
      }
      offset += 2 + 1024;
    }
    expect(views).toBe(0);
    expect(got.map((g) => g[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Handed out without a copy, as onData does for a message this size.
    expect(got.every((g, i) => g.length === 1024 && g.buffer === datagrams[i]!.buffer)).toBe(true);
    expect(rx.bufferedBytes).toBe(0);
    // Anything else goes the general way: two messages in one frame, then half a message.
    const d = new Uint8Array(1100);
    let pos = writeVarint(d, 0, 3);
    d.fill(9, pos, pos + 3);
    pos = writeVarint(d, pos + 3, 600);
    d.fill(8, pos, pos + 300);
    expect(rx.onDataAt(offset, d, 0, pos + 300).map((x) => x.length)).toEqual([3]);
    offset += pos + 300;
    const rest = new Uint8Array(300).fill(8);
    expect(rx.onDataAt(offset, rest, 0, 300).map((x) => x.length)).toEqual([600]);
  });

  it('a copied message costs one Buffer (its own): its length header is stepped over, not copied', () => {
    const rx = new RecvStream(0);
    const datagram = new Uint8Array(1200); // small messages in a big datagram: copied out
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const clear = vi.spyOn(Map.prototype, 'clear');
    try {
      let offset = 0;
      const got: number[] = [];
      for (let m = 0; m < 100; m++) {
        const length = 10 + (m % 90);
        const pos = writeVarint(datagram, 0, length);
        datagram.fill(m, pos, pos + length);
        for (const msg of rx.onData(offset, datagram.subarray(0, pos + length))) {
          expect(msg.length).toBe(length);
          got.push(msg[length - 1]!);
        }
        offset += pos + length;
      }
      expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(alloc).toHaveBeenCalledTimes(100);
      // In-order data never had a reassembly page: nothing to clear, no new hash table.
      expect(clear).not.toHaveBeenCalled();
    } finally {
      alloc.mockRestore();
      clear.mockRestore();
    }
  });

  it('Session.ackRanges answers in one reused object, array and set of pairs', () => {
    const { rx } = pair();
    const answers = new Set<object>();
    const pairs = new Set<object>();
    let peak = 0;
    for (let pn = 0; pn < 200; pn++) {
      // Every third packet missing: up to a few ranges at a time.
      if (pn % 3 !== 2) rx.onPacketReceived(pn, true, pn);
      const a = rx.ackRanges(pn);
      expect(a.ranges[0]![1]).toBe(pn % 3 === 2 ? pn : pn + 1);
      answers.add(a);
      answers.add(a.ranges);
      for (const p of a.ranges) pairs.add(p);
      peak = Math.max(peak, a.ranges.length);
      if (pn % 10 === 9) rx.forgetAcksBelow(pn - 5);
    }
    expect(answers.size).toBe(2);
    // A pair per range held at the busiest moment, reused ever after.
    expect(peak).toBeGreaterThan(1);
    expect(pairs.size).toBe(peak);
    rx.onPacketReceived(1000, true, 1000);
    const last = rx.ackRanges(1000).ranges;
    expect(last[0]).toEqual([1000, 1001]);
    expect(last.every(([lo, hi], i) => lo < hi && (i === 0 || hi < last[i - 1]![0]))).toBe(true);
  });

  it('Session.seal and openPacket view only the payload: header and tag go through buffers of their own', () => {
    type Call = { ad: Uint8Array; body: Uint8Array; tag: Uint8Array };
    const sealedCalls: Call[] = [];
    const openedCalls: Call[] = [];
    const real = createPacketKey('chacha20-poly1305', randomBytes(32));
    const spy = (calls: { seal: Call[]; open: Call[] }): PacketKey => ({
      cipher: real.cipher,
      seal: real.seal.bind(real),
      open: real.open.bind(real),
      rekey: () => real.rekey(),
      sealDetached(nonce, ad, body, tag) {
        calls.seal.push({ ad, body, tag });
        real.sealDetached(nonce, ad, body, tag);
      },
      openDetached(nonce, ad, body, tag) {
        calls.open.push({ ad, body, tag });
        return real.openDetached(nonce, ad, body, tag);
      },
    });
    const calls = { seal: sealedCalls, open: openedCalls };
    const session = (local: number, remote: number) =>
      new Session({
        localIndex: local,
        remoteIndex: remote,
        initiator: false,
        initiatorStatic: Buffer.alloc(32),
        remoteStatic: Buffer.alloc(32),
        sendKey: spy(calls),
        recvKey: spy(calls),
        path: { address: '127.0.0.1', port: 1 },
        now: 0,
      });
    const tx = session(1, 2);
    const rx = session(2, 1);
    const datagrams = [sealed(tx, 1), sealed(tx, 2), sealed(tx, 3)];
    expect(sealedCalls).toHaveLength(3);
    for (const [i, d] of datagrams.entries()) {
      // The header on the wire is what was authenticated: one bit of it changed fails.
      const tampered = Buffer.from(d);
      tampered[5]! ^= 1; // the receiver index, which the receiver does not check itself
      expect(rx.openPacket(tampered, i, 0).ok).toBe(false);
      // So does one bit of the tag, and the datagram's tag is left as it came.
      const badTag = Buffer.from(d);
      badTag[badTag.length - 1]! ^= 1;
      expect(rx.openPacket(badTag, i, 0).ok).toBe(false);
      expect(badTag[badTag.length - 1]).toBe(d[d.length - 1]! ^ 1);
      const r = rx.openPacket(d, i, 0);
      expect(r.ok && r.payload[0]).toBe(i + 1);
      expect(r.ok && r.payload.length).toBe(MAX_PAYLOAD);
    }
    // Per packet: the payload is the one view of the datagram (sealed and
    // opened in place); the header and the tag are the same few buffers
    // every time, never views of the datagram.
    for (const [i, c] of sealedCalls.entries()) {
      expect(c.body.buffer).toBe(datagrams[i]!.buffer);
      expect(c.body.byteOffset).toBe(datagrams[i]!.byteOffset + DATA_HEADER_LENGTH);
      expect(c.ad.buffer).not.toBe(datagrams[i]!.buffer);
    }
    expect(openedCalls).toHaveLength(9);
    const shared = (pick: (c: Call) => Uint8Array) =>
      new Set([...sealedCalls, ...openedCalls].map(pick)).size;
    expect(shared((c) => c.ad)).toBe(2); // one for sealing, one for opening
    expect(shared((c) => c.tag)).toBe(2);
    const good = openedCalls.filter((_, k) => k % 3 === 2);
    for (const [i, c] of good.entries()) {
      expect(c.body.byteOffset).toBe(datagrams[i]!.byteOffset + DATA_HEADER_LENGTH);
    }
  });

  it("packet assembly: the first STREAM frame is recorded in the packet's own fields, only more need a list", () => {
    const { tx } = pair();
    const streams = new Map([
      [0, new SendStream(0)],
      [4, new SendStream(4)],
    ]);
    const sent: Buffer[] = [];
    const asm = new PacketAssembler({ transmit: (_to, data) => sent.push(data) }, () => streams);
    for (let i = 0; i < 2; i++) {
      asm.pingRequested = true; // a PING alone: ack-eliciting, no stream data
      asm.flushCurrent(tx, i);
    }
    streams.get(0)!.write(1, Buffer.alloc(100, 1));
    streams.get(0)!.write(2, Buffer.alloc(1024, 2));
    asm.flushCurrent(tx, 2);
    streams.get(0)!.write(3, Buffer.alloc(10, 3));
    streams.get(4)!.write(4, Buffer.alloc(20, 4));
    asm.flushCurrent(tx, 3);
    const packets = [...tx.loss.unacked()];
    expect(packets.map((p) => p.pn)).toEqual([0, 1, 2, 3]);
    const [ping1, ping2, one, two] = packets.map((p) => p.frames);
    expect(ping1!.streamId).toBe(-1);
    // No STREAM frame beyond the first: the one frozen empty list for all.
    expect(ping2!.more).toBe(ping1!.more);
    expect(one!.more).toBe(ping1!.more);
    expect(Object.isFrozen(ping1!.more)).toBe(true);
    // One frame for the run of both messages, headers included.
    expect([one!.streamId, one!.offset, one!.length]).toEqual([0, 0, 102 + 1026]);
    // Two streams in one packet: the second in the list, as (stream, offset, length).
    expect([two!.streamId, two!.offset, two!.length, ...two!.more]).toEqual([
      0, 1128, 11, 4, 0, 21,
    ]);
    expect(sent).toHaveLength(4);
  });

  it('SendStream.onAcked and RecvStream.onData answer completed messages in one array each', () => {
    const tx = new SendStream(0);
    const rx = new RecvStream(0);
    const acked = new Set<object>();
    const received = new Set<object>();
    const ids: number[] = [];
    let delivered = 0;
    for (let m = 0; m < 100; m++) {
      tx.write(m, Buffer.alloc(100 + m, m));
      for (let c = tx.nextChunk(1170); c; c = tx.nextChunk(1170)) {
        const out = rx.onData(c.offset, Uint8Array.from(c.data));
        if (out.length > 0) received.add(out);
        for (const msg of out) expect(msg[0]).toBe(delivered++); // read before the next call
        const done = tx.onAcked(c.offset, c.data.length);
        if (done.length > 0) acked.add(done);
        for (const d of done) ids.push(d.id); // read before the next call
      }
    }
    expect(delivered).toBe(100);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(acked.size).toBe(1);
    expect(received.size).toBe(1);
  });
});

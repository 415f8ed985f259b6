import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_COST, PAGE_SIZE } from '../../../../source/net/core/conn/pages.js';
import { RecvStream } from '../../../../source/net/core/conn/recvstream.js';
import { type OutgoingMessage, SendStream } from '../../../../source/net/core/conn/sendstream.js';
import {
  MAX_MESSAGE_SIZE,
  RECV_WINDOW,
  SEND_WINDOW,
} from '../../../../source/net/core/conn/streamlimits.js';
import { varintLength, writeVarint } from '../../../../source/net/wire/reader.js';
import { expectBadPacket } from '../../../support/badpacket.js';
import { Rng } from '../../../support/rng.js';

/**
 * What a well-behaved sender can make us hold: SEND_WINDOW of early data plus
 * a partial message, in pages (two more for the ends), plus the partial
 * message's bytes in `ready`.
 */
const WELL_BEHAVED_CHARGE =
  ((SEND_WINDOW + MAX_MESSAGE_SIZE + 8) / PAGE_SIZE + 2) * PAGE_COST + MAX_MESSAGE_SIZE + 8;

const expectProtocol = (fn: () => unknown) => expectBadPacket(fn, 'protocol');

/** A cheap assertion for the simulation's hot paths (vitest's expect costs microseconds). */
function ok(condition: boolean, message: string): void {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}

function varint(value: number): Uint8Array {
  const out = new Uint8Array(varintLength(value));
  writeVarint(out, 0, value);
  return out;
}

/** The stream bytes a sequence of messages is framed into: [varint length][bytes]... */
function framed(messages: readonly Uint8Array[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [varint(m.length), m]));
}

/** One datagram's worth of stream data, as the network model tracks it. */
interface Packet {
  offset: number;
  data: Uint8Array;
  /** Still deliverable (not yet delivered for good, and not vanished). */
  inFlight: boolean;
  delivered: boolean;
  /** The sender has either had it acknowledged or declared it lost. */
  resolved: boolean;
}

type Action =
  | { kind: 'write' }
  | { kind: 'send'; size: number }
  | { kind: 'deliver'; pick: number; dup: boolean }
  | { kind: 'lose'; pick: number; vanish: boolean }
  | { kind: 'ack'; pick: number; dup: boolean }
  | { kind: 'dropAck'; pick: number };

/**
 * A sender, a receiver and a hostile network between them: chunks are delivered
 * in any order, duplicated or lost; acknowledgements likewise; the sender's loss
 * detection may be wrong (declaring lost a packet that did arrive).
 */
class Sim {
  readonly sender = new SendStream(7);
  readonly receiver = new RecvStream(7);
  readonly stream: Buffer;
  written = 0;
  readonly packets: Packet[] = [];
  ackQueue: Packet[] = [];
  readonly received: Buffer[] = [];
  readonly completed: OutgoingMessage[] = [];
  private lastPending = 0;
  private writtenAtLastCheck = 0;
  private checkedCompleted = 0;
  private checkedReceived = 0;
  private writeEnd = 0;

  constructor(readonly messages: readonly Uint8Array[]) {
    this.stream = framed(messages);
  }

  apply(a: Action): void {
    switch (a.kind) {
      case 'write':
        this.write();
        break;
      case 'send':
        this.send(a.size);
        break;
      case 'deliver': {
        const live = this.packets.filter((p) => p.inFlight);
        const p = live[a.pick % Math.max(1, live.length)];
        if (p) this.deliver(p, a.dup);
        break;
      }
      case 'lose': {
        const open = this.packets.filter((p) => !p.resolved);
        const p = open[a.pick % Math.max(1, open.length)];
        if (p) this.declareLost(p, a.vanish);
        break;
      }
      case 'ack': {
        const i = a.pick % Math.max(1, this.ackQueue.length);
        const p = this.ackQueue[i];
        if (p) {
          if (!a.dup) this.ackQueue.splice(i, 1);
          this.ack(p);
        }
        break;
      }
      case 'dropAck':
        this.ackQueue.splice(a.pick % Math.max(1, this.ackQueue.length), 1);
        break;
    }
    this.check();
  }

  write(): boolean {
    const m = this.messages[this.written];
    if (!m) return false;
    const end = this.sender.write(this.written, m);
    this.written++;
    this.writeEnd += varintLength(m.length) + m.length;
    ok(end === this.writeEnd, `write() returned ${end}, expected ${this.writeEnd}`);
    ok(this.sender.writeOffset === end, 'writeOffset is the end of written data');
    return true;
  }

  send(size: number): Packet | undefined {
    const chunk = this.sender.nextChunk(size);
    if (!chunk) return undefined;
    const len = chunk.data.length;
    ok(len > 0 && len <= size, `chunk of ${len} bytes for a budget of ${size}`);
    ok(chunk.offset + len <= this.sender.writeOffset, 'chunk within written data');
    // The chunk carries exactly the stream's bytes at its offset.
    const want = this.stream.subarray(chunk.offset, chunk.offset + len);
    ok(view(chunk.data).equals(want), `chunk at ${chunk.offset} carries the wrong bytes`);
    // Copy, as the real sender does when it writes the frame into a datagram.
    const p: Packet = {
      offset: chunk.offset,
      data: Uint8Array.from(chunk.data),
      inFlight: true,
      delivered: false,
      resolved: false,
    };
    this.packets.push(p);
    return p;
  }

  deliver(p: Packet, dup: boolean): void {
    const out = this.receiver.onData(p.offset, p.data);
    this.received.push(...out);
    p.delivered = true;
    if (!dup) p.inFlight = false;
    this.ackQueue.push(p);
  }

  /** The sender's loss detection fires for `p` (rightly or, if it arrived, spuriously). */
  declareLost(p: Packet, vanish: boolean): void {
    this.sender.onLost(p.offset, p.data.length);
    p.resolved = true;
    if (vanish) p.inFlight = false;
  }

  ack(p: Packet): void {
    const before = this.sender.pendingMessages().length;
    const done = this.sender.onAcked(p.offset, p.data.length);
    p.resolved = true;
    this.completed.push(...done);
    // pendingMessages shrinks by exactly what was completed.
    const after = this.sender.pendingMessages().length;
    ok(
      after === before - done.length,
      `pending went ${before} -> ${after} with ${done.length} done`,
    );
  }

  check(): void {
    // Completed (fully acknowledged) messages come back oldest first, exactly once.
    for (; this.checkedCompleted < this.completed.length; this.checkedCompleted++) {
      const m = this.completed[this.checkedCompleted]!;
      ok(m.id === this.checkedCompleted, `completed #${this.checkedCompleted} has id ${m.id}`);
      ok(m.data === this.messages[m.id], `completed #${m.id} carries its own data`);
    }
    // Received messages are exactly the sent ones, in order.
    ok(this.received.length <= this.written, 'received no more than was written');
    for (; this.checkedReceived < this.received.length; this.checkedReceived++) {
      const m = this.received[this.checkedReceived]!;
      ok(m.equals(this.messages[this.checkedReceived]!), `message #${this.checkedReceived} intact`);
    }
    // An acknowledged message has necessarily been delivered.
    ok(this.completed.length <= this.received.length, 'completed implies delivered');
    const pending = this.sender.pendingMessages();
    ok(pending.length === this.written - this.completed.length, 'pending = written - completed');
    ok(pending[0]?.id === (pending.length > 0 ? this.completed.length : undefined), 'pending head');
    ok(pending.at(-1)?.id === (pending.length > 0 ? this.written - 1 : undefined), 'pending tail');
    // Between writes, the pending list only ever shrinks.
    ok(
      pending.length <= this.lastPending + (this.written - this.writtenAtLastCheck),
      'pending never grows except by writes',
    );
    this.lastPending = pending.length;
    this.writtenAtLastCheck = this.written;
    ok(this.sender.ackedPrefix <= this.sender.writeOffset, 'ackedPrefix within written data');
    // A well-behaved sender keeps reassembly within its window and one partial message.
    ok(this.receiver.chargedBytes <= WELL_BEHAVED_CHARGE, 'reassembly charge within bounds');
    ok(
      this.sender.unacknowledged === this.sender.writeOffset - this.sender.ackedPrefix,
      'unacknowledged',
    );
  }

  /**
   * Writes everything, then keeps the network hostile (seeded random loss,
   * duplication, reordering, ack loss) but biased towards progress, for up to
   * `maxSteps` steps or until every message is acknowledged. Returns whether it
   * finished on its own.
   */
  chaos(rng: Rng, maxSteps: number): boolean {
    while (this.write()) this.check();
    for (let step = 0; step < maxSteps; step++) {
      if (this.completed.length === this.messages.length) return true;
      const roll = rng.int(100);
      const pick = rng.int(1 << 30);
      if (roll < 35) this.apply({ kind: 'send', size: 1 + rng.int(1500) });
      else if (roll < 65) this.apply({ kind: 'deliver', pick, dup: rng.chance(0.2) });
      else if (roll < 70) this.apply({ kind: 'lose', pick, vanish: rng.chance(0.7) });
      else if (roll < 97) this.apply({ kind: 'ack', pick, dup: rng.chance(0.1) });
      else this.apply({ kind: 'dropAck', pick });
      // Loss detection eventually fires for packets whose ack never comes back.
      if (this.ackQueue.length === 0 && !this.sender.hasDataToSend) {
        for (const p of this.packets) if (!p.resolved && !p.inFlight) this.declareLost(p, true);
        this.check();
      }
    }
    return this.completed.length === this.messages.length;
  }

  /** Lets the network behave from now on until everything is delivered and acknowledged. */
  drain(chunkSize: number): void {
    while (this.write()) this.check();
    for (let round = 0; round < 1000; round++) {
      if (this.completed.length === this.messages.length) break;
      for (const p of this.packets) {
        if (p.resolved) continue;
        if (!p.delivered) this.deliver(p, false);
        this.ack(p);
      }
      for (const p of this.ackQueue) this.ack(p);
      this.ackQueue = [];
      for (let p = this.send(chunkSize); p; p = this.send(chunkSize)) {
        this.deliver(p, false);
        this.ack(p);
      }
      this.check();
    }
    this.check();
    expect(this.completed.length).toBe(this.messages.length);
    expect(this.received.length).toBe(this.messages.length);
    expect(this.sender.pendingMessages()).toEqual([]);
    expect(this.sender.unacknowledged).toBe(0);
    expect(this.sender.hasDataToSend).toBe(false);
    expect(this.receiver.bufferedBytes).toBe(0);
    expect(this.receiver.chargedBytes).toBe(0);
  }
}

/** A message body of a given length, generated from a seed (cheap to generate and shrink). */
const message = (maxLength: number) =>
  fc
    .tuple(
      fc.oneof(
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 0, max: maxLength }),
        fc.constantFrom(0, 1, 63, 64, Math.min(maxLength, 16383)),
      ),
      fc.integer(),
    )
    .map(([len, seed]) => new Rng(seed).bytes(len));

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Action>({ kind: 'write' }) },
  {
    weight: 4,
    arbitrary: fc
      .oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1500 }))
      .map((size): Action => ({ kind: 'send', size })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({ pick: fc.nat(), dup: fc.boolean() })
      .map((r): Action => ({ kind: 'deliver', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ pick: fc.nat(), vanish: fc.boolean() })
      .map((r): Action => ({ kind: 'lose', ...r })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ pick: fc.nat(), dup: fc.boolean() })
      .map((r): Action => ({ kind: 'ack', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc.nat().map((pick): Action => ({ kind: 'dropAck', pick })),
  },
);

describe('SendStream -> RecvStream under loss, duplication and reordering', () => {
  it('delivers every message exactly once, in order, and completes each once', () => {
    fc.assert(
      fc.property(
        fc.array(message(5000), { maxLength: 20, size: 'max' }),
        fc.array(action, { maxLength: 300, size: 'max' }),
        fc.integer({ min: 200, max: 1500 }),
        fc.integer(),
        (messages, actions, drainSize, seed) => {
          const sim = new Sim(messages);
          for (const a of actions) sim.apply(a);
          sim.chaos(new Rng(seed), 3000);
          sim.drain(drainSize);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('finishes under sustained chaos (not only in the orderly drain)', () => {
    let finished = 0;
    let received = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const messages = Array.from({ length: 15 }, () => rng.bytes(rng.int(5000)));
      const sim = new Sim(messages);
      if (sim.chaos(rng, 5000)) finished++;
      received += sim.received.length;
      sim.drain(1200);
    }
    // The hostile phase alone delivers and completes everything on these
    // fixed seeds (deterministic: exact counts, not a floor).
    expect(finished).toBe(20);
    expect(received).toBe(20 * 15);
  });

  it('carries a maximum-size (1 MiB) message among small ones', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.array(action, { minLength: 200, maxLength: 1500, size: 'max' }),
        (seed, actions) => {
          const rng = new Rng(seed);
          const messages = [
            rng.bytes(10),
            rng.bytes(MAX_MESSAGE_SIZE),
            rng.bytes(0),
            rng.bytes(300),
          ];
          const sim = new Sim(messages);
          // Mostly full-size chunks, so the big message spans hundreds of packets.
          for (const a of actions) sim.apply(a.kind === 'send' ? { kind: 'send', size: 1200 } : a);
          sim.drain(1200);
          expect(sim.received[1]!.length).toBe(MAX_MESSAGE_SIZE);
        },
      ),
      { numRuns: 4 },
    );
  });

  it('handles one-byte chunks that split every length header', () => {
    const messages = [new Uint8Array(0), new Uint8Array(64).fill(1), new Uint8Array(16384).fill(2)];
    const sim = new Sim(messages);
    while (sim.write());
    // Send everything one byte at a time, deliver in reverse order, then ack.
    const sent = [];
    for (let p = sim.send(1); p; p = sim.send(1)) sent.push(p);
    expect(sent.length).toBe(sim.stream.length);
    for (const p of sent.slice(1).reverse()) sim.deliver(p, false);
    expect(sim.received).toEqual([]);
    sim.deliver(sent[0]!, false);
    expect(sim.received.map((m) => m.length)).toEqual([0, 64, 16384]);
    sim.drain(1);
  });
});

describe('SendStream', () => {
  it('returns completed messages oldest first, exactly once, whatever the ack order', () => {
    const s = new SendStream(1);
    const a = s.write(10, Buffer.from('aaaa')); // 1 + 4
    const b = s.write(11, Buffer.from('bb')); // 1 + 2
    const c = s.write(12, Buffer.alloc(0)); // 1
    expect([a, b, c]).toEqual([5, 8, 9]);
    expect(s.pendingMessages().map((m) => m.id)).toEqual([10, 11, 12]);
    // Ack the tail first: nothing is complete until the prefix arrives.
    expect(s.onAcked(5, 4)).toEqual([]);
    expect(s.pendingMessages().length).toBe(3);
    expect(s.onAcked(0, 5).map((m) => m.id)).toEqual([10, 11, 12]);
    expect(s.pendingMessages()).toEqual([]);
    expect(s.onAcked(0, 9)).toEqual([]);
    expect(s.unacknowledged).toBe(0);
  });

  it('retransmits lost ranges before new data, skipping bytes acknowledged since', () => {
    const s = new SendStream(1);
    s.write(1, new Uint8Array(100).fill(9)); // 2-byte header + 100 bytes: [0, 102)
    // The header is its own segment, so the first chunk is just the length.
    const h = s.nextChunk(50)!;
    expect(h).toMatchObject({ offset: 0, retransmit: false });
    expect(h.data.length).toBe(2);
    expect(s.nextChunk(50)).toMatchObject({ offset: 2, retransmit: false });
    const c = s.nextChunk(50)!;
    expect(c.offset).toBe(52);
    expect(c.data.length).toBe(50);
    s.onLost(2, 50);
    expect(s.onAcked(20, 10)).toEqual([]);
    const r1 = s.nextChunk(1000)!;
    expect(r1).toMatchObject({ offset: 2, retransmit: true });
    expect(r1.data.length).toBe(18);
    const r2 = s.nextChunk(1000)!;
    expect(r2).toMatchObject({ offset: 30, retransmit: true });
    expect(r2.data.length).toBe(22);
    expect(s.nextChunk(1000)).toBeUndefined();
    expect(s.hasDataToSend).toBe(false);
  });

  it('never runs more than SEND_WINDOW past the acknowledged prefix', () => {
    const s = new SendStream(1);
    const big = new Uint8Array(MAX_MESSAGE_SIZE);
    for (let i = 0; i < 6; i++) s.write(i, big);
    let sent = 0;
    for (let c = s.nextChunk(1 << 20); c; c = s.nextChunk(1 << 20)) sent = c.offset + c.data.length;
    expect(sent).toBe(SEND_WINDOW);
    expect(s.hasDataToSend).toBe(false);
    expect(s.onAcked(0, 1000)).toEqual([]);
    expect(s.hasDataToSend).toBe(true);
    // Exactly 1000 more bytes may go (possibly in several chunks, split at segment ends).
    let end = SEND_WINDOW;
    for (let c = s.nextChunk(1 << 20); c; c = s.nextChunk(1 << 20)) {
      expect(c.offset).toBe(end);
      end += c.data.length;
    }
    expect(end).toBe(SEND_WINDOW + 1000);
  });
});

describe('RecvStream', () => {
  it('rejects data beyond the receive window with BadPacket("protocol")', () => {
    const r = new RecvStream(1);
    expect(r.onData(RECV_WINDOW - 1, Uint8Array.of(1))).toEqual([]);
    expectProtocol(() => r.onData(RECV_WINDOW, Uint8Array.of(1)));
    expectProtocol(() => r.onData(RECV_WINDOW - 1, Uint8Array.of(1, 2)));
    expectProtocol(() => r.onData(Number.MAX_SAFE_INTEGER - 10, Uint8Array.of(1)));
  });

  it('keeps a view of a mostly-data datagram but copies a few bytes out of a large one', () => {
    // A full packet: the message is handed out as a view of the datagram, no copy.
    const msg = new Uint8Array(1000).fill(9);
    const full = framed([msg]);
    const datagram = new Uint8Array(full.length + 30);
    datagram.set(full, 30);
    const [whole] = new RecvStream(1).onData(0, datagram.subarray(30));
    expect(whole?.buffer).toBe(datagram.buffer);
    // A few bytes in a big datagram are copied: a peer cannot make us keep
    // 1200 bytes per byte it sends, and nothing aliases its buffer.
    const small = framed([Uint8Array.of(1, 2, 3, 4)]);
    const big = new Uint8Array(1200);
    big.set(small, 600);
    const [m] = new RecvStream(2).onData(0, big.subarray(600, 600 + small.length));
    expect(m?.buffer).not.toBe(big.buffer);
    big.fill(0);
    expect([...(m ?? [])]).toEqual([1, 2, 3, 4]);
  });

  it('slides the window as messages are consumed', () => {
    const r = new RecvStream(1);
    const msg = new Uint8Array(1000).fill(5);
    const bytes = framed([msg]);
    expectProtocol(() => r.onData(bytes.length + RECV_WINDOW - 1, Uint8Array.of(0)));
    expect(r.onData(0, bytes).map((m) => m.length)).toEqual([1000]);
    expect(r.onData(bytes.length + RECV_WINDOW - 1, Uint8Array.of(0))).toEqual([]);
  });

  it('rejects a length header above MAX_MESSAGE_SIZE with BadPacket("protocol")', () => {
    expectProtocol(() => new RecvStream(1).onData(0, varint(MAX_MESSAGE_SIZE + 1)));
    expectProtocol(() => new RecvStream(1).onData(0, new Uint8Array(8).fill(0xff)));
    // Also when the header arrives one byte at a time.
    const r = new RecvStream(1);
    const header = varint(MAX_MESSAGE_SIZE + 1);
    for (let i = 0; i < header.length - 1; i++)
      expect(r.onData(i, header.subarray(i, i + 1))).toEqual([]);
    expectProtocol(() => r.onData(header.length - 1, header.subarray(header.length - 1)));
    // Exactly the maximum is fine: it just waits for the body.
    const ok = new RecvStream(1);
    expect(ok.onData(0, varint(MAX_MESSAGE_SIZE))).toEqual([]);
  });

  it('ignores duplicate and overlapping data', () => {
    const r = new RecvStream(1);
    const bytes = framed([Buffer.from('hello'), Buffer.from('world!')]);
    const first = r.onData(0, bytes);
    expect(first.map((m) => m.toString())).toEqual(['hello', 'world!']);
    expect(r.onData(0, bytes)).toEqual([]);
    expect(r.onData(3, bytes.subarray(3, 8))).toEqual([]);
    expect(r.onData(0, new Uint8Array(0))).toEqual([]);
    expect(r.bufferedBytes).toBe(0);
  });

  it('keeps the first copy of bytes and reassembles out-of-order overlapping pieces', () => {
    const msgs = [Buffer.from('the quick brown fox'), Buffer.from(''), Buffer.from('jumps')];
    const bytes = framed(msgs);
    const r = new RecvStream(1);
    expect(r.onData(10, bytes.subarray(10, 20))).toEqual([]);
    expect(r.onData(5, bytes.subarray(5, 15))).toEqual([]);
    expect(r.onData(18, bytes.subarray(18))).toEqual([]);
    expect(r.bufferedBytes).toBe(bytes.length - 5);
    expect(r.onData(0, bytes.subarray(0, 12)).map((m) => m.toString())).toEqual([
      'the quick brown fox',
      '',
      'jumps',
    ]);
    expect(r.bufferedBytes).toBe(0);
    // Re-delivering any of it yields nothing.
    expect(r.onData(0, bytes)).toEqual([]);
  });

  it('returns copies that later input cannot change', () => {
    const r = new RecvStream(1);
    const bytes = framed([Buffer.from('abc')]);
    const [m] = r.onData(0, bytes);
    bytes.fill(0);
    expect(m!.toString()).toBe('abc');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../source/net/core/address.js';
import { mappingBehaviour, StunClient, type StunResult } from '../../../source/net/nat/stun.js';
import {
  decodeStunMessage,
  encodeBindingError,
  encodeBindingResponse,
  encodeStunMessage,
  StunType,
} from '../../../source/net/nat/stun-codec.js';

// ---- the client on a virtual clock --------------------------------------------

const S1: Addr = { address: '198.18.0.2', port: 3478 };
const S2: Addr = { address: '198.18.0.3', port: 3478 };

function counterIds(): (n: number) => Buffer {
  let next = 0;
  return (n) => {
    const b = Buffer.alloc(n);
    b.writeUInt32BE(++next, n - 4);
    return b;
  };
}

function drain(c: StunClient): { to: Addr; data: Buffer }[] {
  const out: { to: Addr; data: Buffer }[] = [];
  for (let t = c.pollTransmit(); t; t = c.pollTransmit()) out.push(t);
  return out;
}

/** Answers a request the way a server would, reporting `mapped`. */
function answer(request: Buffer, mapped: Addr): Buffer {
  return encodeBindingResponse(decodeStunMessage(request).transactionId, mapped, {
    fingerprint: true,
  });
}

describe('StunClient', () => {
  it('sends one request per server (duplicates once) and reports each mapping', () => {
    const c = new StunClient({ randomBytes: counterIds() });
    c.start([S1, S2, { address: '::ffff:198.18.0.2', port: 3478 }], 0);
    const sent = drain(c);
    expect(sent.map((t) => t.to)).toEqual([S1, S2]);
    const mapped = { address: '198.18.0.21', port: 40000 };
    expect(c.handleResponse(answer(sent[0]!.data, mapped), S1, 30)).toBe('answered');
    expect(c.summary()).toMatchObject({ done: false, mapped, behaviour: 'unknown' });
    expect(c.handleResponse(answer(sent[1]!.data, mapped), S2, 40)).toBe('answered');
    const s = c.summary();
    expect(s.done).toBe(true);
    expect(s.behaviour).toBe('endpoint-independent');
    expect(s.results).toEqual([
      { server: S1, kind: 'mapped', mapped, rtt: 30, transmits: 1 },
      { server: S2, kind: 'mapped', mapped, rtt: 40, transmits: 1 },
    ]);
    expect(c.pollResult()?.server).toEqual(S1);
    expect(c.pollResult()?.server).toEqual(S2);
    expect(c.pollResult()).toBeUndefined();
    expect(c.nextDeadline()).toBeUndefined();
  });

  it('different mappings toward two servers mean a symmetric (endpoint-dependent) NAT', () => {
    const c = new StunClient({ randomBytes: counterIds() });
    c.start([S1, S2], 0);
    const [a, b] = drain(c);
    c.handleResponse(answer(a!.data, { address: '198.18.0.23', port: 51001 }), S1, 1);
    c.handleResponse(answer(b!.data, { address: '198.18.0.23', port: 62002 }), S2, 1);
    expect(c.summary().behaviour).toBe('endpoint-dependent');
  });

  it('retransmits at 500, 1500, 3500... ms (RTO doubling, 7 sends) then times out after 16 RTO', () => {
    const c = new StunClient({ randomBytes: counterIds() });
    c.start([S1], 0);
    const sendTimes = [0];
    expect(drain(c)).toHaveLength(1);
    let now = 0;
    for (;;) {
      const at = c.nextDeadline();
      if (at === undefined) break;
      now = at;
      c.handleTimeout(now);
      if (drain(c).length > 0) sendTimes.push(now);
    }
    expect(sendTimes).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(now).toBe(39500);
    expect(c.summary().results).toEqual([
      { server: S1, kind: 'timeout', transmits: 7, badResponses: 0 },
    ]);
  });

  it('takes shorter test settings, and a late answer after a retransmission still counts', () => {
    const c = new StunClient({
      rto: 10,
      maxTransmits: 3,
      lastWaitFactor: 2,
      randomBytes: counterIds(),
    });
    c.start([S1], 0);
    const [first] = drain(c);
    c.handleTimeout(10);
    expect(drain(c)).toHaveLength(1);
    c.handleResponse(answer(first!.data, { address: '198.18.0.1', port: 1 }), S1, 25);
    expect(c.summary().results[0]).toMatchObject({ kind: 'mapped', transmits: 2, rtt: 15 });
    expect(c.nextDeadline()).toBeUndefined();
  });

  it('reports error responses and responses without an address as results, never throws', () => {
    const c = new StunClient({ randomBytes: counterIds() });
    c.start([S1, S2], 0);
    const [a, b] = drain(c);
    const idA = decodeStunMessage(a!.data).transactionId;
    const idB = decodeStunMessage(b!.data).transactionId;
    c.handleResponse(encodeBindingError(idA, 500, 'Server Error'), S1, 5);
    c.handleResponse(encodeStunMessage(StunType.BindingSuccess, idB), S2, 5);
    expect(c.summary().results).toEqual([
      { server: S1, kind: 'error', code: 500, reason: 'Server Error' },
      {
        server: S2,
        kind: 'bad-response',
        reason: 'success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS',
      },
    ]);
    expect(c.summary().mapped).toBeUndefined();
  });

  it('ignores garbage, strangers, unknown transactions and spoofed sources', () => {
    const c = new StunClient({
      rto: 10,
      maxTransmits: 1,
      lastWaitFactor: 1,
      randomBytes: counterIds(),
    });
    c.start([S1], 0);
    const [req] = drain(c);
    const mapped = { address: '198.18.0.21', port: 4 };
    // The caller's sniffer (isStun) routed it here; the client does not sniff
    // again, so bytes that are no STUN at all are just another malformed answer.
    expect(c.handleResponse(Buffer.from([0x51, 1, 2, 3]), S1, 1)).toBe('ignored');
    const broken = answer(req!.data, mapped);
    broken[broken.length - 1] = broken[broken.length - 1]! ^ 1; // bad FINGERPRINT
    expect(c.handleResponse(broken, S1, 1)).toBe('ignored');
    expect(c.handleResponse(answer(req!.data, mapped), S2, 1)).toBe('ignored'); // wrong source
    const other = encodeBindingResponse(Buffer.alloc(12, 9), mapped);
    expect(c.handleResponse(other, S1, 1)).toBe('ignored'); // unknown transaction
    expect(c.handleResponse(req!.data, S1, 1)).toBe('ignored'); // a request, not a response
    expect(c.dropped).toEqual({
      malformed: 2,
      unknownTransaction: 1,
      wrongSource: 1,
      notResponse: 1,
    });
    c.handleTimeout(10);
    expect(c.summary().results).toEqual([
      { server: S1, kind: 'timeout', transmits: 1, badResponses: 2 },
    ]);
  });

  it('survives any sequence of hostile datagrams and timeouts (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }).map((b) => ({ kind: 'bytes' as const, b })),
            fc.integer({ min: 0, max: 2000 }).map((dt) => ({ kind: 'tick' as const, dt })),
          ),
          { maxLength: 40 },
        ),
        (steps) => {
          const c = new StunClient({ rto: 50, maxTransmits: 3 });
          c.start([S1, S2], 0);
          let now = 0;
          for (const s of steps) {
            if (s.kind === 'tick') {
              now += s.dt;
              c.handleTimeout(now);
            } else {
              c.handleResponse(s.b, S1, now);
            }
            drain(c);
          }
          c.handleTimeout(now + 1e6);
          c.handleTimeout(now + 2e6);
          c.handleTimeout(now + 4e6);
          expect(c.done).toBe(true);
          expect(c.summary().results).toHaveLength(2);
        },
      ),
    );
  });

  it('mappingBehaviour needs two answers', () => {
    const r = (port: number): StunResult => ({
      server: S1,
      kind: 'mapped',
      mapped: { address: '198.18.0.5', port },
      rtt: 1,
      transmits: 1,
    });
    expect(mappingBehaviour([r(1)])).toBe('unknown');
    expect(
      mappingBehaviour([r(1), { server: S2, kind: 'timeout', transmits: 7, badResponses: 0 }]),
    ).toBe('unknown');
    expect(mappingBehaviour([r(1), r(1)])).toBe('endpoint-independent');
    expect(mappingBehaviour([r(1), r(2)])).toBe('endpoint-dependent');
  });
});

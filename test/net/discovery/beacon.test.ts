import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { decodeBeacon, encodeBeacon } from '../../../source/net/discovery/beacon.js';
import { RecordPolicy, signItem } from '../../../source/net/discovery/policy.js';
import { encodeRecord } from '../../../source/net/discovery/record.js';
import { expectBadPacket, outcome } from '../../support/badpacket.js';

const id = generateIdentity();
const v = encodeRecord({
  nick: 'bob',
  nat: 'unknown',
  candidates: [{ kind: 'host', address: '10.0.0.2', port: 9 }],
});
const item = signItem(id, v, 1_764_000_000_000);
const announce = {
  type: 'announce' as const,
  item: { ...item, k: Buffer.from(item.k), v, sig: Buffer.from(item.sig) },
};

describe('broadcast beacon codec', () => {
  it('round-trips an announcement the policy accepts, and a query', () => {
    const back = decodeBeacon(encodeBeacon(announce));
    expect(back.type).toBe('announce');
    if (back.type !== 'announce') return;
    expect(back.item.seq).toBe(item.seq);
    expect(new RecordPolicy().judge(id.publicKey, back.item).ok).toBe(true);
    expect(decodeBeacon(encodeBeacon({ type: 'query', key: id.publicKey }))).toEqual({
      type: 'query',
      key: id.publicKey,
    });
    expect(encodeBeacon(announce).length).toBe(4 + 2 + 32 + 8 + 64 + 2 + v.length);
  });

  it('throws BadPacket on bad magic, version, type, lengths and trailing bytes', () => {
    const good = encodeBeacon(announce);
    const at = (i: number, x: number) => {
      const b = Buffer.from(good);
      b[i] = x;
      return b;
    };
    expectBadPacket(() => decodeBeacon(at(0, 0x41)), 'malformed');
    expectBadPacket(() => decodeBeacon(at(4, 2)), 'version');
    expectBadPacket(() => decodeBeacon(at(5, 9)), 'unknown-type');
    expectBadPacket(() => decodeBeacon(Buffer.concat([good, Buffer.from([0])])), 'malformed');
    const long = Buffer.from(good);
    long.writeUInt16BE(997, 4 + 2 + 32 + 8 + 64);
    expectBadPacket(() => decodeBeacon(long), 'malformed');
    for (let cut = 0; cut < good.length; cut++)
      expectBadPacket(() => decodeBeacon(good.subarray(0, cut)), 'truncated');
    const q = encodeBeacon({ type: 'query', key: id.publicKey });
    expectBadPacket(() => decodeBeacon(Buffer.concat([q, Buffer.from([1])])), 'malformed');
  });

  it('never throws anything but BadPacket on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const withMagic = Buffer.concat([Buffer.from('SRMB'), Buffer.from(bytes)]);
        expect(outcome(() => decodeBeacon(withMagic))).not.toBe('other');
        expect(outcome(() => decodeBeacon(bytes))).not.toBe('other');
      }),
      { numRuns: 3000 },
    );
  });
});

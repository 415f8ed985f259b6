import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket, UsageError } from '../../../source/net/core/errors.js';
import {
  type DiscoveryRecord,
  decodeRecord,
  encodeRecord,
  MAX_RECORD_BYTES,
} from '../../../source/net/discovery/record.js';
import { expectBadPacket, outcome } from '../../support/badpacket.js';

const sample: DiscoveryRecord = {
  nick: 'bob',
  nat: 'endpoint-independent',
  candidates: [
    { kind: 'reflexive', address: '203.0.113.7', port: 40000 },
    { kind: 'host', address: '192.168.1.20', port: 5000 },
    { kind: 'relayed', address: '2001:db8::1', port: 3478 },
  ],
};

describe('discovery record codec', () => {
  it('round-trips nick, candidates (kind, family, order) and NAT mapping', () => {
    expect(decodeRecord(encodeRecord(sample))).toEqual(sample);
    const bare: DiscoveryRecord = { nick: 'é', nat: 'unknown', candidates: [] };
    expect(decodeRecord(encodeRecord(bare))).toEqual(bare);
  });

  it('fixes the layout byte for byte (two builds must read each other)', () => {
    const bytes = encodeRecord({
      nick: 'al',
      nat: 'endpoint-dependent',
      candidates: [{ kind: 'reflexive', address: '1.2.3.4', port: 258 }],
    });
    expect([...bytes]).toEqual([1, 2, 2, 0x61, 0x6c, 1, 1, 4, 1, 2, 3, 4, 1, 2]);
  });

  it('stays far under the BEP 44 cap at its largest (8 IPv6 candidates, 64-byte nick)', () => {
    const big = encodeRecord({
      nick: 'x'.repeat(64),
      nat: 'unknown',
      candidates: Array.from({ length: 8 }, (_, i) => ({
        kind: 'host' as const,
        address: `2001:db8::${i + 1}`,
        port: 1000 + i,
      })),
    });
    expect(big.length).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    expect(big.length).toBe(3 + 64 + 1 + 8 * 20);
  });

  it('refuses to encode what it could not publish', () => {
    expect(() => encodeRecord({ ...sample, nick: 'x'.repeat(65) })).toThrow(UsageError);
    const nine = Array.from({ length: 9 }, () => sample.candidates[0]!);
    expect(() => encodeRecord({ ...sample, candidates: nine })).toThrow(UsageError);
    expect(() =>
      encodeRecord({ ...sample, candidates: [{ kind: 'host', address: '1.2.3.4', port: 0 }] }),
    ).toThrow(UsageError);
  });

  it('skips extensions it does not know but checks their framing', () => {
    const base = encodeRecord(sample);
    const withExt = Buffer.concat([base, Buffer.from([9, 3, 1, 2, 3, 200, 0])]);
    expect(decodeRecord(withExt)).toEqual(sample);
    expectBadPacket(() => decodeRecord(Buffer.concat([base, Buffer.from([9, 3, 1])])), 'truncated');
    expectBadPacket(() => decodeRecord(Buffer.concat([base, Buffer.from([9])])), 'truncated');
  });

  it('throws BadPacket on each malformed field', () => {
    const good = encodeRecord(sample);
    const at = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    expectBadPacket(() => decodeRecord(Buffer.alloc(0)), 'truncated');
    expectBadPacket(() => decodeRecord(at(0, 2)), 'version');
    expectBadPacket(() => decodeRecord(at(1, 3)), 'malformed'); // nat code
    expectBadPacket(() => decodeRecord(at(2, 65)), 'malformed'); // nick length
    expectBadPacket(() => decodeRecord(at(6, 9)), 'malformed'); // candidate count
    expectBadPacket(() => decodeRecord(at(7, 3)), 'malformed'); // kind
    expectBadPacket(() => decodeRecord(at(8, 5)), 'malformed'); // family
    const port0 = encodeRecord({ ...sample, candidates: [] });
    const zero = Buffer.concat([port0.subarray(0, -1), Buffer.from([1, 0, 4, 1, 1, 1, 1, 0, 0])]);
    expectBadPacket(() => decodeRecord(zero), 'malformed');
    const badUtf8 = Buffer.from([1, 0, 2, 0xc3, 0x28, 0]);
    expectBadPacket(() => decodeRecord(badUtf8), 'malformed');
    for (let cut = 0; cut < good.length; cut++)
      expectBadPacket(() => decodeRecord(good.subarray(0, cut)), 'truncated');
  });

  it('refuses an oversized record even when its framing is valid', () => {
    const ext = Buffer.alloc(257 * 4);
    for (let i = 0; i < 4; i++) ext.set([7, 255], i * 257);
    const over = Buffer.concat([encodeRecord(sample), ext]);
    expect(over.length).toBeGreaterThan(MAX_RECORD_BYTES);
    expectBadPacket(() => decodeRecord(over), 'malformed');
  });

  it('never throws anything but BadPacket on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => {
        const r = outcome(() => decodeRecord(bytes));
        expect(r).not.toBe('other');
      }),
      { numRuns: 3000 },
    );
    // Mutations of a valid record: one flipped byte either decodes or is a BadPacket.
    const good = encodeRecord(sample);
    for (let i = 0; i < good.length; i++) {
      for (const v of [0, 1, 6, 0x7f, 0xff]) {
        const b = Buffer.from(good);
        b[i] = v;
        try {
          decodeRecord(b);
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacket);
        }
      }
    }
  });
});

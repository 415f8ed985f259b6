import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeIp } from '../../../source/net/core/address.js';
import { UsageError } from '../../../source/net/core/errors.js';
import { IPV4_LENGTH, IPV6_LENGTH, ipFromBytes, ipToBytes } from '../../../source/net/wire/ip.js';
import { expectBadPacket } from '../../support/badpacket.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An independent RFC 5952 printer: the WHATWG URL parser's IPv6 serialiser. */
const urlCanonical = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

const v6Bytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
/** Bytes with long zero runs, where `::` placement is decided. */
const sparseV6Bytes = fc
  .array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 })
  .map((groups) => {
    const b = Buffer.alloc(16);
    for (const [i, g] of groups.entries()) b.writeUInt16BE(g, i * 2);
    return b;
  });

describe('ip codec: literal to network bytes', () => {
  it('encodes known literals to the exact bytes', () => {
    const cases: [string, string][] = [
      ['198.51.100.2', 'c6336402'],
      ['0.0.0.0', '00000000'],
      ['255.255.255.255', 'ffffffff'],
      ['2001:db8::1', '20010db8 00000000 00000000 00000001'],
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '20010db8 00000000 00000000 00000001'],
      ['::', '00000000 00000000 00000000 00000000'],
      ['::1', '00000000 00000000 00000000 00000001'],
      ['fe80::1:0:0:0:2', 'fe800000 00000001 00000000 00000002'],
      ['1:2:3:4:5:6:7:8', '00010002 00030004 00050006 00070008'],
      ['::ffff:1.2.3.4', '00000000 00000000 0000ffff 01020304'],
      ['::ffff:102:304', '00000000 00000000 0000ffff 01020304'],
      ['1:2:3:4:5:6:1.2.3.4', '00010002 00030004 00050006 01020304'],
      // A zone means nothing to another host: it is not on the wire.
      ['fe80::1%eth0', 'fe800000 00000000 00000000 00000001'],
    ];
    for (const [text, bytes] of cases)
      expect(ipToBytes(text).toString('hex')).toBe(hex(bytes).toString('hex'));
  });

  it('refuses anything that is not an IP literal, as the caller’s error', () => {
    for (const bad of [
      '',
      'example.com',
      '1.2.3',
      '256.1.1.1',
      '01.2.3.4',
      ' 1.2.3.4',
      '1::2::3',
      '[::1]',
      '1.2.3.4:80',
    ]) {
      expect(() => ipToBytes(bad)).toThrow(UsageError);
    }
  });
});

describe('ip codec: network bytes to text', () => {
  it('round-trips every IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const bytes = ipToBytes(text);
        expect(bytes.length).toBe(IPV4_LENGTH);
        expect(ipFromBytes(bytes)).toBe(text);
      }),
    );
  });

  it('round-trips every 16 bytes, printing RFC 5952 text as an independent printer does', () => {
    fc.assert(
      fc.property(fc.oneof(v6Bytes, sparseV6Bytes), (bytes) => {
        const text = ipFromBytes(bytes);
        expect(isIP(text)).toBe(6);
        expect(ipToBytes(text).equals(Buffer.from(bytes))).toBe(true);
        const mapped = Buffer.from(bytes).subarray(0, 12).equals(hex('00000000 00000000 0000ffff'));
        // The URL printer writes a mapped address in hex; RFC 5952 §5 keeps the dotted quad.
        if (!mapped) expect(text).toBe(urlCanonical(text));
      }),
    );
  });

  it('prints IPv4-mapped IPv6 with its dotted quad, which normalizeIp turns into IPv4', () => {
    const mapped = hex('00000000 00000000 0000ffff 7f000001');
    expect(ipFromBytes(mapped)).toBe('::ffff:127.0.0.1');
    expect(normalizeIp(ipFromBytes(mapped))).toBe('127.0.0.1');
    // Not mapped: a different prefix, or IPv4-compatible (::a.b.c.d, deprecated) stays IPv6.
    expect(ipFromBytes(hex('00000000 00000000 0000fffe 7f000001'))).toBe('::fffe:7f00:1');
    expect(ipFromBytes(hex('00000000 00000000 00000000 7f000001'))).toBe('::7f00:1');
    expect(ipFromBytes(hex('00000000 00000001 0000ffff 7f000001'))).toBe('::1:0:ffff:7f00:1');
  });

  it('prints RFC 5952 §4 forms: lower case, longest zero run first on a tie, no lone ::', () => {
    expect(ipFromBytes(hex('20010db8 00000000 00010000 00000001'))).toBe('2001:db8::1:0:0:1');
    expect(ipFromBytes(hex('20010db8 00000001 00010001 00010001'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipFromBytes(hex('00010000 00000002 00000000 00000003'))).toBe('1:0:0:2::3');
    expect(ipFromBytes(hex('abcd0000 00000000 00000000 00000000'))).toBe('abcd::');
  });

  it('throws BadPacket for every length other than 4 and 16', () => {
    for (let n = 0; n <= 40; n++) {
      if (n === IPV4_LENGTH || n === IPV6_LENGTH) continue;
      expectBadPacket(() => ipFromBytes(new Uint8Array(n)), 'malformed');
    }
  });
});

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodeStunMessage,
  encodeAddressValue,
  encodeBindingError,
  encodeBindingRequest,
  encodeBindingResponse,
  encodeStunMessage,
  isStun,
  STUN_MAGIC_COOKIE,
  StunAttr,
  StunType,
  verifyMessageIntegrity,
} from '../../../source/net/nat/stun-codec.js';
import { outcome } from '../../support/badpacket.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 (STUN test vectors), sections 2.1-2.3. Their MESSAGE-INTEGRITY uses
// a short-term credential, this password.
const RFC5769_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const RFC5769_TXID = hex('b7e7a701 bc34d686 fa87dfae');
const RFC5769_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
const RFC5769_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

describe('STUN codec: RFC 5769 test vectors', () => {
  it('decodes the sample request (class, attributes, fingerprint)', () => {
    const m = decodeStunMessage(RFC5769_REQUEST);
    expect(m.type).toBe(StunType.BindingRequest);
    expect(m.class).toBe('request');
    expect(m.method).toBe(1);
    expect(m.transactionId.equals(RFC5769_TXID)).toBe(true);
    expect(m.software).toBe('STUN test client');
    expect(m.fingerprint).toBe(true);
    expect(m.mappedAddress).toBeUndefined();
    expect(m.attributes.map((a) => a.type)).toEqual([
      StunAttr.Software,
      0x0024, // PRIORITY
      0x8029, // ICE-CONTROLLED
      StunAttr.Username,
      StunAttr.MessageIntegrity,
      StunAttr.Fingerprint,
    ]);
    expect(m.attributes[3]?.value.toString()).toBe('evtj:h6vY');
  });

  it('decodes the sample IPv4 response: 192.0.2.1:32853', () => {
    const m = decodeStunMessage(RFC5769_IPV4_RESPONSE);
    expect(m.type).toBe(StunType.BindingSuccess);
    expect(m.class).toBe('success');
    expect(m.transactionId.equals(RFC5769_TXID)).toBe(true);
    expect(m.software).toBe('test vector');
    expect(m.fingerprint).toBe(true);
    expect(m.xorMapped).toBe(true);
    expect(m.mappedAddress).toEqual({ address: '192.0.2.1', port: 32853 });
  });

  it('decodes the sample IPv6 response: [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const m = decodeStunMessage(RFC5769_IPV6_RESPONSE);
    expect(m.class).toBe('success');
    expect(m.fingerprint).toBe(true);
    expect(m.mappedAddress).toEqual({
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
  });

  it('rejects each vector with one flipped bit (FINGERPRINT or structure catches it)', () => {
    for (const vector of [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
      // Every byte before the FINGERPRINT attribute is covered by its CRC.
      for (let i = 0; i < vector.length - 8; i++) {
        for (const bit of [0x01, 0x80]) {
          const copy = Buffer.from(vector);
          copy[i] = copy[i]! ^ bit;
          expect(outcome(() => decodeStunMessage(copy))).not.toBe('none');
          expect(outcome(() => decodeStunMessage(copy))).not.toBe('other');
        }
      }
    }
  });

  it('encodes the vectors’ XOR-MAPPED-ADDRESS values to their exact bytes', () => {
    const v4 = encodeAddressValue({ address: '192.0.2.1', port: 32853 }, RFC5769_TXID, true);
    expect(v4.toString('hex')).toBe('0001a147e112a643');
    const v6 = encodeAddressValue(
      { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 },
      RFC5769_TXID,
      true,
    );
    expect(v6.toString('hex')).toBe('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9');
    // The same bytes without XOR are MAPPED-ADDRESS (RFC 8489 §14.1).
    const plain = encodeAddressValue({ address: '192.0.2.1', port: 32853 }, RFC5769_TXID, false);
    expect(plain.toString('hex')).toBe('00018055c0000201');
  });

  it('verifies the vectors’ MESSAGE-INTEGRITY with their short-term password, and nothing else', () => {
    const key = Buffer.from(RFC5769_PASSWORD, 'utf8');
    for (const vector of [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
      const m = decodeStunMessage(vector);
      expect(verifyMessageIntegrity(vector, m, { key })).toBe(true);
      expect(
        verifyMessageIntegrity(vector, m, { key: Buffer.from('VOkJxbRl1RmTxUk/WvJxBT') }),
      ).toBe(false);
      // No MESSAGE-INTEGRITY-SHA256 in them: nothing to verify is not a pass.
      expect(verifyMessageIntegrity(vector, m, { key, sha256: true })).toBe(false);
    }
    const bare = encodeBindingRequest(RFC5769_TXID);
    expect(verifyMessageIntegrity(bare, decodeStunMessage(bare), { key })).toBe(false);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('STUN codec: encoding and round trips', () => {
  const txid = hex('000102030405060708090a0b');

  it('MESSAGE-INTEGRITY(-SHA256) round-trips before a FINGERPRINT, and catches a wrong key', () => {
    const key = Buffer.from('a TURN long-term key, 16 bytes');
    const attrs = [{ type: StunAttr.Username, value: Buffer.from('alice') }];
    for (const sha256 of [false, true]) {
      for (const fingerprint of [false, true]) {
        const buf = encodeStunMessage(StunType.BindingRequest, txid, attrs, {
          integrity: { key, sha256 },
          fingerprint,
        });
        const m = decodeStunMessage(buf);
        expect(m.fingerprint).toBe(fingerprint);
        const types = m.attributes.map((a) => a.type);
        const mi = sha256 ? StunAttr.MessageIntegritySha256 : StunAttr.MessageIntegrity;
        expect(types).toEqual(
          fingerprint ? [StunAttr.Username, mi, StunAttr.Fingerprint] : [StunAttr.Username, mi],
        );
        expect(m.attributes[1]!.value.length).toBe(sha256 ? 32 : 20);
        expect(verifyMessageIntegrity(buf, m, { key, sha256 })).toBe(true);
        expect(verifyMessageIntegrity(buf, m, { key: Buffer.from('another key'), sha256 })).toBe(
          false,
        );
        // A changed byte under the MAC: USERNAME's first letter.
        const forged = Buffer.from(buf);
        forged[24] = 'A'.charCodeAt(0);
        expect(
          verifyMessageIntegrity(
            forged,
            decodeStunMessage(fingerprint ? refingerprint(forged) : forged),
            { key, sha256 },
          ),
        ).toBe(false);
      }
    }
  });

  it('accepts MESSAGE-INTEGRITY-SHA256 truncated to 16-28 bytes in steps of 4 (RFC 8489 §14.6), no shorter', () => {
    const key = Buffer.from('k');
    for (const n of [12, 16, 20, 24, 28, 30]) {
      // Built by hand: HMAC-SHA256 over the header (length up to the attribute's end) and the attribute header.
      const msg = encodeStunMessage(StunType.BindingSuccess, txid, [
        { type: StunAttr.MessageIntegritySha256, value: Buffer.alloc(n) },
      ]);
      const covered = Buffer.from(msg.subarray(0, 20));
      covered.writeUInt16BE(4 + n, 2);
      createHmac('sha256', key).update(covered).digest().copy(msg, 24, 0, n);
      const ok = n >= 16 && n % 4 === 0;
      expect(verifyMessageIntegrity(msg, decodeStunMessage(msg), { key, sha256: true })).toBe(ok);
    }
  });

  it('a Binding request is the 20-byte header (plus FINGERPRINT if asked)', () => {
    const bare = encodeBindingRequest(txid);
    expect(bare.toString('hex')).toBe(`000100002112a442${txid.toString('hex')}`);
    const withFp = encodeBindingRequest(txid, { fingerprint: true });
    expect(withFp.length).toBe(28);
    const m = decodeStunMessage(withFp);
    expect(m.class).toBe('request');
    expect(m.fingerprint).toBe(true);
    expect(isStun(bare)).toBe(true);
    expect(isStun(withFp)).toBe(true);
  });

  it('refuses a transaction id that is not 12 bytes (caller error)', () => {
    expect(() => encodeBindingRequest(Buffer.alloc(11))).toThrow(/12 bytes/);
  });

  it('round-trips XOR-MAPPED-ADDRESS for any IPv4 or IPv6 address and port', () => {
    const ipv4 = fc.ipV4();
    const ipv6 = fc
      .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
      .map((g) => g.map((x) => x.toString(16)).join(':'));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.oneof(ipv4, ipv6),
        fc.integer({ min: 0, max: 65535 }),
        fc.boolean(),
        (id, address, port, fingerprint) => {
          const buf = encodeBindingResponse(id, { address, port }, { fingerprint });
          const m = decodeStunMessage(buf);
          expect(m.class).toBe('success');
          expect(m.fingerprint).toBe(fingerprint);
          expect(Buffer.from(m.transactionId).equals(Buffer.from(id))).toBe(true);
          expect(m.mappedAddress?.port).toBe(port);
          // Compare as bytes: the decoder prints the RFC 5952 form.
          const again = encodeBindingResponse(id, m.mappedAddress!, { fingerprint });
          expect(again.equals(buf)).toBe(true);
        },
      ),
    );
  });

  it('prints IPv6 in RFC 5952 form and IPv4-mapped IPv6 as plain IPv4', () => {
    const id = Buffer.alloc(12, 7);
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::ffff:198.18.0.9', '198.18.0.9'],
      ['::', '::'],
      ['2001:db8::', '2001:db8::'],
      ['fe80::1:0:0:0:2', 'fe80:0:0:1::2'],
      ['2001:DB8:0:0:1::1', '2001:db8::1:0:0:1'],
    ];
    for (const [input, printed] of cases) {
      const m = decodeStunMessage(encodeBindingResponse(id, { address: input, port: 9 }));
      expect(m.mappedAddress?.address).toBe(printed);
    }
  });

  it('falls back to MAPPED-ADDRESS, and prefers XOR-MAPPED-ADDRESS when both are present', () => {
    const id = Buffer.alloc(12, 1);
    const plain = Buffer.from([0, 1, 0x1f, 0x90, 203, 0, 113, 5]); // 203.0.113.5:8080
    const only = encodeStunMessage(StunType.BindingSuccess, id, [
      { type: StunAttr.MappedAddress, value: plain },
    ]);
    const m1 = decodeStunMessage(only);
    expect(m1.mappedAddress).toEqual({ address: '203.0.113.5', port: 8080 });
    expect(m1.xorMapped).toBe(false);

    const xorValue = decodeStunMessage(
      encodeBindingResponse(id, { address: '198.51.100.7', port: 4000 }),
    ).attributes[0]!.value;
    const both = encodeStunMessage(StunType.BindingSuccess, id, [
      { type: StunAttr.MappedAddress, value: plain },
      { type: StunAttr.XorMappedAddress, value: xorValue },
    ]);
    expect(decodeStunMessage(both).mappedAddress).toEqual({ address: '198.51.100.7', port: 4000 });
  });

  it('decodes ERROR-CODE', () => {
    const m = decodeStunMessage(encodeBindingError(Buffer.alloc(12), 420, 'Unknown Attribute'));
    expect(m.class).toBe('error');
    expect(m.errorCode).toEqual({ code: 420, reason: 'Unknown Attribute' });
  });
});

describe('STUN codec: hostile input throws only BadPacket', () => {
  const good = RFC5769_IPV4_RESPONSE;

  it('every truncation is truncated or malformed', () => {
    for (let n = 0; n < good.length; n++) {
      const r = outcome(() => decodeStunMessage(good.subarray(0, n)));
      expect(['truncated', 'malformed']).toContain(r);
    }
  });

  it('names the reasons', () => {
    expect(outcome(() => decodeStunMessage(Buffer.alloc(19)))).toBe('truncated');
    const noCookie = Buffer.from(good);
    noCookie.writeUInt32BE(0, 4);
    expect(outcome(() => decodeStunMessage(noCookie))).toBe('malformed');
    const topBits = Buffer.from(good);
    topBits[0] = 0x41;
    expect(outcome(() => decodeStunMessage(topBits))).toBe('malformed');
    const longer = Buffer.concat([good, Buffer.alloc(4)]);
    expect(outcome(() => decodeStunMessage(longer))).toBe('malformed');
    const oddLength = Buffer.from(good);
    oddLength.writeUInt16BE(good.length - 20 - 2, 2);
    expect(outcome(() => decodeStunMessage(oddLength))).toBe('malformed');
    // An attribute whose length runs past the message.
    const overrun = encodeStunMessage(StunType.BindingSuccess, Buffer.alloc(12), [
      { type: 0x7fff, value: Buffer.alloc(4) },
    ]);
    overrun.writeUInt16BE(8, 22);
    expect(outcome(() => decodeStunMessage(overrun))).toBe('truncated');
    // An attribute after FINGERPRINT.
    const fp = encodeBindingRequest(Buffer.alloc(12), { fingerprint: true });
    const after = Buffer.concat([fp, hex('7fff0000')]);
    after.writeUInt16BE(after.length - 20, 2);
    expect(outcome(() => decodeStunMessage(after))).toBe('malformed');
    // Unknown address family, wrong address length.
    for (const value of [hex('0003a147e112a643'), hex('0001a147e112a6'), hex('0002a147e112a643')]) {
      const msg = encodeStunMessage(StunType.BindingSuccess, Buffer.alloc(12), [
        { type: StunAttr.XorMappedAddress, value },
      ]);
      expect(outcome(() => decodeStunMessage(msg))).toBe('malformed');
    }
    // Error class out of range.
    const badErr = encodeStunMessage(StunType.BindingError, Buffer.alloc(12), [
      { type: StunAttr.ErrorCode, value: hex('00000700') },
    ]);
    expect(outcome(() => decodeStunMessage(badErr))).toBe('malformed');
  });

  it('random bytes, and random mutations of valid messages, never throw anything else', () => {
    const vectors = [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE];
    const header = fc.uint8Array({ minLength: 0, maxLength: 120 }).map((tail) => {
      // Mostly plausible headers so the attribute walker gets exercised.
      const b = Buffer.alloc(20 + tail.length);
      b.writeUInt16BE(0x0101, 0);
      b.writeUInt16BE(tail.length, 2);
      b.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
      b.set(tail, 20);
      return b;
    });
    const mutated = fc
      .tuple(
        fc.constantFrom(...vectors),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
      )
      .map(([v, edits, cut]) => {
        const b = Buffer.from(v);
        for (const [at, byte] of edits) b[at % b.length] = byte;
        return b.subarray(0, cut % (b.length + 1));
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), header, mutated), (bytes) => {
        const r = outcome(() => decodeStunMessage(bytes));
        expect(r).not.toBe('other');
      }),
      { numRuns: 3000 },
    );
  });
});

describe('isStun demultiplexes from our own packets', () => {
  it('accepts STUN and refuses our WIRE_VERSION first byte and short datagrams', () => {
    expect(isStun(RFC5769_IPV4_RESPONSE)).toBe(true);
    const ours = Buffer.from(RFC5769_IPV4_RESPONSE);
    ours[0] = 0x51;
    expect(isStun(ours)).toBe(false);
    expect(isStun(Buffer.alloc(10))).toBe(false);
    // RFC 7983 §7 gives STUN first bytes 0-3 only (20-63 are DTLS).
    const dtlsRange = Buffer.from(RFC5769_IPV4_RESPONSE);
    dtlsRange[0] = 0x04;
    expect(isStun(dtlsRange)).toBe(false);
  });
});

/** Rewrites a message's trailing FINGERPRINT after a test changed its bytes. */
function refingerprint(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  const at = out.length - 4;
  out.writeUInt32BE((crc32(out.subarray(0, at - 4)) ^ 0x5354554e) >>> 0, at);
  return out;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  isChannelData,
  isStun,
  StunAttr,
  verifyMessageIntegrity,
} from '../../../source/net/nat/stun-codec.js';
import {
  decodeChannelData,
  encodeChannelData,
  longTermKey,
  PasswordAlgorithm,
  passwordAlgorithmsOf,
  stunType,
  TurnMethod,
  textAttr,
} from '../../../source/net/nat/turn-codec.js';

/**
 * RFC 5769 §2.4, "Sample Request with Long-Term Authentication": USERNAME
 * (six katakana, UTF-8), NONCE, REALM "example.org", MESSAGE-INTEGRITY. The
 * password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
 */
const RFC5769_LONG_TERM = Buffer.from(
  [
    '00010060', // Request type and message length
    '2112a442', // Magic cookie
    '78ad3433c6ad72c029da412e', // Transaction ID
    '00060012', // USERNAME attribute header
    'e3839ee38388e383aae38383e382afe382b90000', // Username value (18 bytes) and padding (2 bytes)
    '0015001c', // NONCE attribute header
    '662f2f3439396b393534643' + '64f4c33346f4c39465354767936347341', // Nonce value
    '0014000b', // REALM attribute header
    '6578616d706c652e6f726700', // Realm value (11 bytes) and padding (1 byte)
    '00080014', // MESSAGE-INTEGRITY attribute header
    'f67024656dd64a3e02b8e0712e85c9a28ca89666', // HMAC-SHA1
  ].join(''),
  'hex',
);
const USERNAME = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
const NONCE = 'f//499k954d6OL34oL9FSTvy64sA';
const REALM = 'example.org';
const PASSWORD = 'TheMatrIX';

describe('long-term credentials (RFC 8489 §9.2.2) on the RFC 5769 vector', () => {
  it('the vector is what its annotation says', () => {
    expect(RFC5769_LONG_TERM.length).toBe(116);
    const msg = decodeStunMessage(RFC5769_LONG_TERM);
    expect(msg.class).toBe('request');
    const text = (t: number) => msg.attributes.find((a) => a.type === t)?.value.toString('utf8');
    expect(text(StunAttr.Username)).toBe(USERNAME);
    expect(text(StunAttr.Nonce)).toBe(NONCE);
    expect(text(StunAttr.Realm)).toBe(REALM);
  });

  it('MD5(username:realm:password) verifies its MESSAGE-INTEGRITY, and a wrong password does not', () => {
    const msg = decodeStunMessage(RFC5769_LONG_TERM);
    const key = longTermKey(USERNAME, REALM, PASSWORD);
    expect(verifyMessageIntegrity(RFC5769_LONG_TERM, msg, { key })).toBe(true);
    const wrong = longTermKey(USERNAME, REALM, 'TheMatrix');
    expect(verifyMessageIntegrity(RFC5769_LONG_TERM, msg, { key: wrong })).toBe(false);
  });

  it('the encoder reproduces the vector byte for byte from its parts', () => {
    const id = RFC5769_LONG_TERM.subarray(8, 20);
    const built = encodeStunMessage(
      0x0001,
      id,
      [
        textAttr(StunAttr.Username, USERNAME),
        textAttr(StunAttr.Nonce, NONCE),
        textAttr(StunAttr.Realm, REALM),
      ],
      { integrity: { key: longTermKey(USERNAME, REALM, PASSWORD) } },
    );
    expect(built.toString('hex')).toBe(RFC5769_LONG_TERM.toString('hex'));
  });

  it('the SHA-256 password algorithm hashes the same string with SHA-256', () => {
    const key = longTermKey('u', 'r', 'p', PasswordAlgorithm.SHA256);
    // sha256("u:r:p"), computed apart with sha256sum.
    expect(key.toString('hex')).toBe(
      'dcb021102e491e701a4a236daa8923af2161447bce7bb7260a351ee83e9f8154',
    );
    expect(key.length).toBe(32);
    expect(key.equals(longTermKey('u', 'r', 'p'))).toBe(false);
  });
});

describe('TURN message types and ChannelData (RFC 8656 §12.4)', () => {
  it('interleaves method and class as RFC 8489 §5 does', () => {
    expect(stunType(TurnMethod.Allocate, 'request')).toBe(0x0003);
    expect(stunType(TurnMethod.Allocate, 'success')).toBe(0x0103);
    expect(stunType(TurnMethod.Allocate, 'error')).toBe(0x0113);
    expect(stunType(TurnMethod.Send, 'indication')).toBe(0x0016);
    expect(stunType(TurnMethod.Data, 'indication')).toBe(0x0017);
    expect(stunType(TurnMethod.ChannelBind, 'request')).toBe(0x0009);
    // A method above 0xf moves its upper bits past the class bits.
    expect(stunType(0x0ff, 'success')).toBe(0x03ef);
    const back = decodeStunMessage(encodeStunMessage(stunType(0xabc, 'error'), Buffer.alloc(12)));
    expect(back.method).toBe(0xabc);
    expect(back.class).toBe('error');
  });

  it('encodes the 4-byte header, pads only over a stream, and decodes back', () => {
    const data = Buffer.from('hello');
    const udp = encodeChannelData(0x4001, data);
    expect(udp.toString('hex')).toBe(`40010005${data.toString('hex')}`);
    const tcp = encodeChannelData(0x4001, data, { stream: true });
    expect(tcp.length).toBe(12);
    expect(decodeChannelData(udp)).toEqual({ channel: 0x4001, data });
    expect(decodeChannelData(tcp)).toEqual({ channel: 0x4001, data });
    expect(decodeChannelData(encodeChannelData(0x4fff, Buffer.alloc(0))).data.length).toBe(0);
  });

  it('the sniffer tells ChannelData from STUN and our wire byte', () => {
    expect(isChannelData(encodeChannelData(0x4000, Buffer.from('x')))).toBe(true);
    expect(isChannelData(encodeChannelData(0x4fff, Buffer.from('x')))).toBe(true);
    expect(isChannelData(RFC5769_LONG_TERM)).toBe(false);
    expect(isStun(encodeChannelData(0x4000, Buffer.alloc(30)))).toBe(false);
    expect(isChannelData(Buffer.from([0x51, 0, 0, 0, 0]))).toBe(false);
    expect(isChannelData(Buffer.from([0x3f, 0, 0, 0]))).toBe(false);
    expect(isChannelData(Buffer.from([0x40, 0, 0]))).toBe(false);
  });

  it('hostile ChannelData throws BadPacket only', () => {
    expect(() => decodeChannelData(Buffer.from('400100', 'hex'))).toThrow(BadPacket);
    expect(() => decodeChannelData(Buffer.from('40010009aabb', 'hex'))).toThrow(/truncated|says/);
    expect(() => decodeChannelData(Buffer.from('50000000', 'hex'))).toThrow(BadPacket);
    expect(() => decodeChannelData(Buffer.from('4001000100aabbccdd', 'hex'))).toThrow(BadPacket);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const { data } = decodeChannelData(bytes);
          expect(data.length).toBeLessThanOrEqual(bytes.length - 4);
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacket);
        }
      }),
    );
  });

  it('reads PASSWORD-ALGORITHMS and rejects an overrun', () => {
    const id = Buffer.alloc(12);
    const list = Buffer.from('0002000000010000', 'hex');
    const msg = decodeStunMessage(encodeStunMessage(0x0111, id, [{ type: 0x8002, value: list }]));
    expect(passwordAlgorithmsOf(msg)).toEqual([PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5]);
    const bad = decodeStunMessage(
      encodeStunMessage(0x0111, id, [{ type: 0x8002, value: Buffer.from('000200080001', 'hex') }]),
    );
    expect(() => passwordAlgorithmsOf(bad)).toThrow(BadPacket);
  });
});

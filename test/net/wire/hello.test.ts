import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  decodeHello,
  encodeHello,
  HELLO_VERSION,
  type Hello,
  MAX_NICK_BYTES,
  RESET_TOKEN_LENGTH,
} from '../../../source/net/wire/hello.js';
import { expectBadPacket } from '../../support/badpacket.js';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
const sig64 = fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => Buffer.from(b));
const token = fc
  .uint8Array({ minLength: RESET_TOKEN_LENGTH, maxLength: RESET_TOKEN_LENGTH })
  .map((b) => Buffer.from(b));
/** Offset of the nick-length byte: version, identity, signature, reset token. */
const NICK_LENGTH_AT = 1 + 32 + 64 + RESET_TOKEN_LENGTH;
/** Any well-formed Unicode nick (no lone surrogates) of at most 64 UTF-8 bytes. */
const nick = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 64, size: 'max' }),
    fc.string({ unit: 'grapheme', maxLength: 20, size: 'max' }),
    fc.string({ maxLength: 64, size: 'max' }),
    fc.constantFrom(
      '',
      'alice',
      'Zoë',
      '山田太郎',
      '🦊'.repeat(16),
      'é'.repeat(32),
      'a'.repeat(64),
    ),
  )
  .filter((s) => Buffer.byteLength(s) <= MAX_NICK_BYTES)
  // A leading U+FEFF does not survive decoding (covered by its own test below).
  .filter((s) => !s.startsWith('\ufeff'));
const hello = fc.record({ identity: key32, signature: sig64, resetToken: token, nick });

function sample(nickText = 'bob'): Hello {
  return {
    identity: Buffer.alloc(32, 0x11),
    signature: Buffer.alloc(64, 0x22),
    resetToken: Buffer.alloc(RESET_TOKEN_LENGTH, 0x33),
    nick: nickText,
  };
}

describe('hello', () => {
  it('round-trips random keys and unicode nicks', () => {
    fc.assert(
      fc.property(hello, (h) => {
        const bytes = encodeHello(h);
        // ... nick, then the flags byte.
        expect(bytes.length).toBe(NICK_LENGTH_AT + 1 + Buffer.byteLength(h.nick) + 1);
        expect(bytes[NICK_LENGTH_AT]).toBe(Buffer.byteLength(h.nick));
        expect(bytes[0]).toBe(HELLO_VERSION);
        const back = decodeHello(bytes);
        expect(back.identity.equals(h.identity)).toBe(true);
        expect(back.signature.equals(h.signature)).toBe(true);
        expect(back.resetToken.equals(h.resetToken)).toBe(true);
        expect(back.nick).toBe(h.nick);
        expect(back.flags).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('carries the no-introductions flag, and reads a Hello without flags as 0', () => {
    const withFlag = encodeHello({ ...sample('bob'), flags: 1 });
    expect(decodeHello(withFlag).flags).toBe(1);
    expect(decodeHello(withFlag.subarray(0, withFlag.length - 1)).flags).toBe(0);
  });

  it('decoded keys are copies, not views of the payload', () => {
    const bytes = encodeHello(sample());
    const back = decodeHello(bytes);
    bytes.fill(0);
    expect(back.identity.equals(Buffer.alloc(32, 0x11))).toBe(true);
    expect(back.signature.equals(Buffer.alloc(64, 0x22))).toBe(true);
    expect(back.resetToken.equals(Buffer.alloc(RESET_TOKEN_LENGTH, 0x33))).toBe(true);
  });

  it('accepts a nick of exactly MAX_NICK_BYTES and refuses to encode a longer one', () => {
    const longest = '🦊'.repeat(MAX_NICK_BYTES / 4);
    expect(Buffer.byteLength(longest)).toBe(MAX_NICK_BYTES);
    expect(decodeHello(encodeHello(sample(longest))).nick).toBe(longest);
    expect(() => encodeHello(sample('a'.repeat(MAX_NICK_BYTES + 1)))).toThrow(RangeError);
  });

  it('round-trips a nick that starts with U+FEFF (BOM)', () => {
    // hello.ts builds its decoder as `new TextDecoder('utf-8', { fatal: true })`;
    // without `ignoreBOM: true` a TextDecoder strips a leading EF BB BF, so the
    // decoded nick differs from the encoded one.
    const nickText = '\ufeffbob';
    expect(Buffer.byteLength(nickText)).toBeLessThanOrEqual(MAX_NICK_BYTES);
    expect(decodeHello(encodeHello(sample(nickText))).nick).toBe(nickText);
  });

  it('ignores bytes after the nick (reserved for extensions)', () => {
    const bytes = Buffer.concat([encodeHello(sample('ext')), Buffer.from([1, 2, 3, 0xff])]);
    expect(decodeHello(bytes).nick).toBe('ext');
  });

  it('every truncation throws BadPacket', () => {
    fc.assert(
      fc.property(hello, (h) => {
        const bytes = encodeHello(h);
        // The trailing flags byte is optional (older Hellos end at the nick).
        for (let cut = 0; cut < bytes.length - 1; cut++) {
          const cutShort = () => decodeHello(bytes.subarray(0, cut));
          let caught: unknown;
          try {
            cutShort();
          } catch (err) {
            caught = err;
          }
          // Cuts before the nick bytes are reported as truncation.
          const want = cut <= NICK_LENGTH_AT ? 'truncated' : undefined;
          const fine =
            caught instanceof BadPacket && (want === undefined || caught.reason === want);
          if (!fine) expectBadPacket(cutShort, want);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('reports a truncated nick as "truncated", not as invalid UTF-8', () => {
    // decodeHello wraps `r.bytes(nickLength, 'nick')` inside the try/catch meant for
    // the UTF-8 decoder, so the Reader's BadPacket('truncated') is replaced by
    // BadPacket('handshake', 'nick is not valid UTF-8') and counted under the wrong reason.
    const bytes = encodeHello(sample('bob'));
    const bad = expectBadPacket(() => decodeHello(bytes.subarray(0, bytes.length - 2)));
    expect(bad.message).not.toContain('UTF-8');
    expect(bad.reason).toBe('truncated');
  });

  it('rejects invalid UTF-8 nicks with BadPacket', () => {
    const invalid = [
      [0xff],
      [0xc3], // lead byte without continuation
      [0x80], // lone continuation byte
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // UTF-16 surrogate encoded in UTF-8
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0x61, 0x62, 0xe2, 0x82], // valid prefix, truncated sequence
    ];
    for (const nickBytes of invalid) {
      const bytes = encodeHello(sample(''));
      const payload = Buffer.concat([
        bytes.subarray(0, NICK_LENGTH_AT),
        Buffer.from([nickBytes.length, ...nickBytes]),
      ]);
      expectBadPacket(() => decodeHello(payload), 'handshake');
    }
  });

  it('rejects a nick length above MAX_NICK_BYTES even when the bytes are present', () => {
    const payload = Buffer.concat([
      encodeHello(sample('')).subarray(0, NICK_LENGTH_AT),
      Buffer.from([MAX_NICK_BYTES + 1]),
      Buffer.alloc(MAX_NICK_BYTES + 1, 0x61),
    ]);
    expectBadPacket(() => decodeHello(payload), 'handshake');
  });

  it('rejects every other version byte with BadPacket', () => {
    const bytes = encodeHello(sample());
    for (let version = 0; version < 256; version++) {
      if (version === HELLO_VERSION) continue;
      const copy = Buffer.from(bytes);
      copy[0] = version;
      expectBadPacket(() => decodeHello(copy), 'handshake');
    }
  });

  it('arbitrary bytes decode or throw BadPacket, nothing else', () => {
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 200, size: 'max' }),
      fc
        .uint8Array({ minLength: NICK_LENGTH_AT, maxLength: 200, size: 'max' })
        .map((b) => Uint8Array.from([HELLO_VERSION, ...b])),
    );
    fc.assert(
      fc.property(payload, (buf) => {
        try {
          const h = decodeHello(buf);
          expect(h.identity.length).toBe(32);
          expect(h.signature.length).toBe(64);
          expect(h.resetToken.length).toBe(RESET_TOKEN_LENGTH);
          // At most the declared length (less only if a leading BOM was stripped).
          expect(Buffer.byteLength(h.nick)).toBeLessThanOrEqual(buf[NICK_LENGTH_AT]!);
          expect(Buffer.byteLength(h.nick)).toBeGreaterThanOrEqual(buf[NICK_LENGTH_AT]! - 3);
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacket);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import {
  CIPHER_NAMES,
  type CipherName,
  createPacketKey,
  KEY_LENGTH,
  TAG_LENGTH,
} from '../../../source/net/crypto/cipher.js';

/** Independent reference: OpenSSL through node:crypto with a hand-built 96-bit IV. */
function reference(
  cipher: CipherName,
  key: Uint8Array,
  iv: Buffer,
  ad: Uint8Array,
  pt: Uint8Array,
): Buffer {
  const c =
    cipher === 'aes-256-gcm'
      ? createCipheriv(cipher, key, iv, { authTagLength: 16 })
      : createCipheriv(cipher, key, iv, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

function ivFor(cipher: CipherName, nonce: number): Buffer {
  const iv = Buffer.alloc(12);
  if (cipher === 'chacha20-poly1305') iv.writeBigUInt64LE(BigInt(nonce), 4);
  else iv.writeBigUInt64BE(BigInt(nonce), 4);
  return iv;
}

function seal(cipher: CipherName, key: Uint8Array, nonce: number, ad: Uint8Array, pt: Uint8Array) {
  const out = Buffer.alloc(pt.length + TAG_LENGTH);
  createPacketKey(cipher, key).seal(nonce, ad, pt, out);
  return out;
}

describe('cipher suites', () => {
  it('offers exactly the two suites of Noise §12.3 and §12.4 (and so every test below runs for both)', () => {
    expect(CIPHER_NAMES).toEqual(['chacha20-poly1305', 'aes-256-gcm']);
  });

  it('refuses an unknown suite or a wrong key length with a message naming it', () => {
    expect(() => createPacketKey('rot13' as CipherName, Buffer.alloc(32))).toThrow(
      /unknown cipher rot13/,
    );
    expect(() => createPacketKey('aes-256-gcm', Buffer.alloc(16))).toThrow(
      'aes-256-gcm key must be 32 bytes, got 16',
    );
  });
});

describe.each(CIPHER_NAMES)('%s', (cipher) => {
  const key = randomBytes(KEY_LENGTH);
  const ad = Buffer.from('header');
  const pt = Buffer.from('a datagram payload of some length');

  it('matches an independent implementation, including the §12 nonce layout', () => {
    for (const nonce of [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
      expect(seal(cipher, key, nonce, ad, pt)).toEqual(
        reference(cipher, key, ivFor(cipher, nonce), ad, pt),
      );
    }
  });

  it('round trips with separate buffers', () => {
    const k = createPacketKey(cipher, key);
    const ct = Buffer.alloc(pt.length + TAG_LENGTH);
    k.seal(7, ad, pt, ct);
    const back = Buffer.alloc(pt.length);
    expect(k.open(7, ad, ct, back)).toBe(true);
    expect(back).toEqual(pt);
  });

  it('round trips in place (same memory)', () => {
    const k = createPacketKey(cipher, key);
    const buf = Buffer.alloc(pt.length + TAG_LENGTH);
    pt.copy(buf);
    k.seal(42, ad, buf.subarray(0, pt.length), buf);
    expect(buf).toEqual(seal(cipher, key, 42, ad, pt));
    expect(k.open(42, ad, buf, buf.subarray(0, pt.length))).toBe(true);
    expect(buf.subarray(0, pt.length)).toEqual(pt);
  });

  it('detached: seals in place to the combined form, and opens it back; a bad tag or AD fails', () => {
    const k = createPacketKey(cipher, key);
    for (const nonce of [0, 3, 2 ** 32 + 5, 2 ** 53 - 1]) {
      const body = Buffer.from(pt);
      const tag = new Uint8Array(TAG_LENGTH);
      k.sealDetached(nonce, ad, body, tag);
      // body||tag is what seal() (and the reference) makes.
      expect(Buffer.concat([body, tag])).toEqual(
        reference(cipher, key, ivFor(cipher, nonce), ad, pt),
      );
      const forged = Uint8Array.from(tag);
      forged[0]! ^= 1;
      expect(k.openDetached(nonce, ad, Buffer.from(body), forged)).toBe(false);
      expect(k.openDetached(nonce, Buffer.from('headex'), Buffer.from(body), tag)).toBe(false);
      expect(k.openDetached(nonce, ad, body, tag.subarray(0, 15))).toBe(false);
      expect(k.openDetached(nonce, ad, body, tag)).toBe(true);
      expect(body).toEqual(pt);
    }
    expect(() => k.sealDetached(-1, ad, Buffer.from(pt), new Uint8Array(16))).toThrow(UsageError);
    expect(() => k.sealDetached(1, ad, Buffer.from(pt), new Uint8Array(15))).toThrow(UsageError);
  });

  it('handles empty plaintext and empty AD', () => {
    const k = createPacketKey(cipher, key);
    const ct = Buffer.alloc(TAG_LENGTH);
    k.seal(0, new Uint8Array(0), new Uint8Array(0), ct);
    expect(k.open(0, new Uint8Array(0), ct, new Uint8Array(0))).toBe(true);
  });

  it('rejects wrong nonce, wrong AD, any flipped bit, wrong key', () => {
    const k = createPacketKey(cipher, key);
    const ct = seal(cipher, key, 5, ad, pt);
    const out = Buffer.alloc(pt.length);
    expect(k.open(6, ad, ct, out)).toBe(false);
    expect(k.open(5, Buffer.from('headex'), ct, out)).toBe(false);
    expect(k.open(5, new Uint8Array(0), ct, out)).toBe(false);
    expect(createPacketKey(cipher, randomBytes(32)).open(5, ad, ct, out)).toBe(false);
    for (let bit = 0; bit < ct.length * 8; bit++) {
      const bad = Buffer.from(ct);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(k.open(5, ad, bad, out)).toBe(false);
    }
    expect(k.open(5, ad, ct, out)).toBe(true);
  });

  it('returns false (never throws) on bad lengths or nonces', () => {
    const k = createPacketKey(cipher, key);
    const ct = seal(cipher, key, 1, ad, pt);
    expect(k.open(1, ad, ct.subarray(0, 15), new Uint8Array(0))).toBe(false);
    expect(k.open(1, ad, ct, Buffer.alloc(pt.length + 1))).toBe(false);
    expect(k.open(1, ad, ct, Buffer.alloc(pt.length - 1))).toBe(false);
    expect(k.open(-1, ad, ct, Buffer.alloc(pt.length))).toBe(false);
    expect(k.open(1.5, ad, ct, Buffer.alloc(pt.length))).toBe(false);
    expect(k.open(2 ** 53, ad, ct, Buffer.alloc(pt.length))).toBe(false);
    // Partial overlap is not a supported aliasing.
    const buf = Buffer.concat([Buffer.alloc(1), ct]);
    expect(k.open(1, ad, buf.subarray(1), buf.subarray(0, pt.length))).toBe(false);
  });

  it('throws UsageError for caller mistakes on seal, saying what was wrong', () => {
    const k = createPacketKey(cipher, key);
    expect(() => k.seal(-1, ad, pt, Buffer.alloc(pt.length + 16))).toThrow(UsageError);
    expect(() => k.seal(2 ** 53, ad, pt, Buffer.alloc(pt.length + 16))).toThrow(
      `nonce must be an integer in [0, 2^53), got ${2 ** 53}`,
    );
    expect(() => k.seal(0, ad, pt, Buffer.alloc(pt.length))).toThrow(UsageError);
    expect(() => k.seal(0, ad, pt, Buffer.alloc(pt.length))).toThrow(
      `seal output must be ${pt.length + 16} bytes, got ${pt.length}`,
    );
    expect(() => createPacketKey(cipher, Buffer.alloc(16))).toThrow(UsageError);
  });

  it('refuses to seal into memory that overlaps the plaintext at another offset', () => {
    // Only the exact in-place case is safe (libsodium overwrites as it reads); a shifted
    // overlap would corrupt the plaintext before it is encrypted.
    const k = createPacketKey(cipher, key);
    const buf = Buffer.alloc(pt.length + TAG_LENGTH + 1);
    pt.copy(buf, 1);
    const plain = buf.subarray(1, 1 + pt.length);
    expect(() => k.seal(4, ad, plain, buf.subarray(0, pt.length + TAG_LENGTH))).toThrow(
      'seal output may alias the plaintext only at the same offset',
    );
    expect(() => k.seal(4, ad, buf.subarray(0, pt.length), buf.subarray(1))).toThrow(UsageError);
  });

  it('seals and opens between adjacent views of one buffer (touching is not overlapping)', () => {
    // A packet slab holds many datagrams back to back: a view ending where the next
    // begins must not be mistaken for an overlap, on either side.
    const k = createPacketKey(cipher, key);
    const expected = seal(cipher, key, 8, ad, pt);
    const len = pt.length;
    const after = Buffer.alloc(2 * len + TAG_LENGTH);
    pt.copy(after);
    k.seal(8, ad, after.subarray(0, len), after.subarray(len));
    expect(after.subarray(len)).toEqual(expected);
    const before = Buffer.alloc(2 * len + TAG_LENGTH);
    pt.copy(before, len + TAG_LENGTH);
    k.seal(8, ad, before.subarray(len + TAG_LENGTH), before.subarray(0, len + TAG_LENGTH));
    expect(before.subarray(0, len + TAG_LENGTH)).toEqual(expected);

    const slab = Buffer.alloc(2 * len + TAG_LENGTH);
    expected.copy(slab);
    expect(k.open(8, ad, slab.subarray(0, len + TAG_LENGTH), slab.subarray(len + TAG_LENGTH))).toBe(
      true,
    );
    expect(slab.subarray(len + TAG_LENGTH)).toEqual(pt);
    expected.copy(slab, len);
    expect(k.open(8, ad, slab.subarray(len), slab.subarray(0, len))).toBe(true);
    expect(slab.subarray(0, len)).toEqual(pt);
  });

  it('copies the key', () => {
    const mine = Buffer.from(key);
    const k = createPacketKey(cipher, mine);
    mine.fill(0);
    const ct = seal(cipher, key, 3, ad, pt);
    expect(k.open(3, ad, ct, Buffer.alloc(pt.length))).toBe(true);
  });

  it('rekeys per §11.3: deterministic, different, and agreed by both sides', () => {
    const a = createPacketKey(cipher, key);
    const b = createPacketKey(cipher, key);
    const a2 = a.rekey();
    const b2 = b.rekey();
    expect(a2.cipher).toBe(cipher);
    // k' = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zeros).
    const maxIv = Buffer.alloc(12);
    maxIv.fill(0xff, 4);
    const expected = reference(cipher, key, maxIv, new Uint8Array(0), new Uint8Array(32));
    const ct = seal(cipher, expected.subarray(0, 32), 9, ad, pt);
    const viaRekey = Buffer.alloc(ct.length);
    a2.seal(9, ad, pt, viaRekey);
    expect(viaRekey).toEqual(ct);
    expect(viaRekey).not.toEqual(seal(cipher, key, 9, ad, pt));
    expect(b2.open(9, ad, viaRekey, Buffer.alloc(pt.length))).toBe(true);
    expect(b.open(9, ad, viaRekey, Buffer.alloc(pt.length))).toBe(false);
    // The old key stays usable.
    const old = Buffer.alloc(pt.length + 16);
    a.seal(1, ad, pt, old);
    expect(b.open(1, ad, old, Buffer.alloc(pt.length))).toBe(true);
    // Chained rekeys stay in step too.
    const a3 = a2.rekey();
    const b3 = b2.rekey();
    a3.seal(0, ad, pt, old);
    expect(b3.open(0, ad, old, Buffer.alloc(pt.length))).toBe(true);
  });

  it('round trips random plaintext, AD and nonce (property)', () => {
    const k = createPacketKey(cipher, key);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1500 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.maxSafeNat(),
        fc.boolean(),
        (plain, assoc, nonce, inPlace) => {
          const buf = new Uint8Array(plain.length + TAG_LENGTH);
          const out = inPlace ? buf : new Uint8Array(plain.length + TAG_LENGTH);
          buf.set(plain);
          k.seal(nonce, assoc, buf.subarray(0, plain.length), out);
          const back = inPlace ? out.subarray(0, plain.length) : new Uint8Array(plain.length);
          expect(k.open(nonce, assoc, out, back)).toBe(true);
          expect(Buffer.from(back).equals(Buffer.from(plain))).toBe(true);
          expect(k.open(nonce === 0 ? 1 : nonce - 1, assoc, out, back)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

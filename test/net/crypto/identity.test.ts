import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import {
  fingerprint,
  generateIdentity,
  keyPairMatches,
  parseFingerprint,
  shortFingerprint,
  signDetached,
  verifyDetached,
} from '../../../source/net/crypto/identity.js';

describe('signatures', () => {
  it('signs and verifies', () => {
    const id = generateIdentity();
    expect(id.publicKey.length).toBe(32);
    expect(id.secretKey.length).toBe(64);
    const msg = Buffer.from('handshake transcript');
    const sig = signDetached(id, msg);
    expect(sig.length).toBe(64);
    expect(verifyDetached(id.publicKey, msg, sig)).toBe(true);
    expect(verifyDetached(new Uint8Array(id.publicKey), new Uint8Array(msg), sig)).toBe(true);
    expect(verifyDetached(id.publicKey, Buffer.from('other'), sig)).toBe(false);
    expect(verifyDetached(generateIdentity().publicKey, msg, sig)).toBe(false);
    const bad = Buffer.from(sig);
    bad[10]! ^= 1;
    expect(verifyDetached(id.publicKey, msg, bad)).toBe(false);
  });

  it('refuses to sign with a secret key that is not 64 bytes, saying so', () => {
    const id = generateIdentity();
    const short = { publicKey: id.publicKey, secretKey: id.secretKey.subarray(0, 32) };
    expect(() => signDetached(short, Buffer.from('m'))).toThrow(
      'identity secret key must be 64 bytes',
    );
  });

  it('returns false for wrong lengths instead of throwing', () => {
    const id = generateIdentity();
    const msg = Buffer.from('m');
    const sig = signDetached(id, msg);
    expect(verifyDetached(id.publicKey.subarray(0, 31), msg, sig)).toBe(false);
    expect(verifyDetached(id.publicKey, msg, sig.subarray(0, 63))).toBe(false);
    expect(verifyDetached(id.publicKey, msg, Buffer.concat([sig, Buffer.alloc(1)]))).toBe(false);
    expect(verifyDetached(new Uint8Array(0), msg, new Uint8Array(0))).toBe(false);
  });
});

describe('fingerprints', () => {
  it('is RFC 4648 base32, lowercase, unpadded', () => {
    // RFC 4648 §10 "foobar" → MZXW6YTBOI======, extended to a 32-byte key:
    const key = Buffer.alloc(32);
    Buffer.from('foobar').copy(key);
    const fp = fingerprint(key);
    expect(fp).toHaveLength(52);
    expect(fp.startsWith('mzxw6ytboi')).toBe(true);
    expect(fp).toMatch(/^[a-z2-7]{52}$/);
    expect(fingerprint(Buffer.alloc(32, 0xff))).toBe(`${'7'.repeat(51)}q`);
    expect(shortFingerprint(key)).toBe(fp.slice(0, 8));
    // Peer states carry fingerprints as text: the same short form.
    expect(shortFingerprint(fp)).toBe(fp.slice(0, 8));
    expect(shortFingerprint(fp)).toBe(shortFingerprint(key));
  });

  it('round trips, accepting upper case, spaces and dashes', () => {
    for (let i = 0; i < 50; i++) {
      const { publicKey } = generateIdentity();
      const fp = fingerprint(publicKey);
      expect(parseFingerprint(fp)).toEqual(publicKey);
      const spaced = fp
        .toUpperCase()
        .match(/.{1,4}/g)!
        .join(i % 2 ? ' ' : '-');
      expect(parseFingerprint(spaced)).toEqual(publicKey);
    }
  });

  it('rejects bad input with UsageError', () => {
    const fp = fingerprint(generateIdentity().publicKey);
    expect(() => parseFingerprint(fp.slice(0, 51))).toThrow(/52/);
    expect(() => parseFingerprint(`${fp}a`)).toThrow(UsageError);
    expect(() => parseFingerprint('')).toThrow(UsageError);
    expect(() => parseFingerprint(`1${fp.slice(1)}`)).toThrow(/"1"/);
    expect(() => parseFingerprint(`${fp.slice(0, 51)}=`)).toThrow(UsageError);
    // Non-zero pad bits in the last character: not a canonical spelling.
    expect(() => parseFingerprint(`${fp.slice(0, 51)}b`)).toThrow(UsageError);
    expect(() => parseFingerprint(`${fp.slice(0, 51)}b`)).toThrow(
      `"${fp.slice(0, 51)}b" is not a valid fingerprint (bad last character)`,
    );
    expect(() => fingerprint(Buffer.alloc(31))).toThrow(UsageError);
    expect(() => fingerprint(Buffer.alloc(31))).toThrow('a fingerprint is of a 32-byte public key');
  });
});

describe('keyPairMatches', () => {
  it('accepts a generated pair and refuses a foreign public key, half or length', () => {
    const id = generateIdentity();
    expect(keyPairMatches(id.publicKey, id.secretKey)).toBe(true);
    const other = generateIdentity().publicKey;
    expect(keyPairMatches(other, id.secretKey)).toBe(false);
    const foreignHalf = Buffer.from(id.secretKey);
    other.copy(foreignHalf, 32);
    expect(keyPairMatches(other, foreignHalf)).toBe(false);
    expect(keyPairMatches(id.publicKey, id.secretKey.subarray(0, 63))).toBe(false);
    // A key file cut short (shorter than the 32-byte seed): false, not a crash.
    expect(keyPairMatches(id.publicKey, id.secretKey.subarray(0, 16))).toBe(false);
  });
});

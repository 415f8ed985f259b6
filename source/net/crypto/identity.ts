/**
 * Long-term Ed25519 identity: key generation, detached signatures and
 * human-comparable fingerprints. Pure: the key file is store/identityfile.ts.
 *
 * The identity is separate from the X25519 keys the Noise handshake uses
 * (Noise rev 34 §12.1 is X25519 only); it signs over the handshake instead.
 */
import sodium from 'sodium-native';
import { UsageError } from '../core/errors.js';

export interface Identity {
  readonly publicKey: Buffer /* 32 */;
  readonly secretKey: Buffer /* 64, libsodium format */;
}

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 64; // libsodium layout: 32-byte seed || 32-byte public key
const SIGNATURE_BYTES = 64;
const FINGERPRINT_CHARS = 52; // ceil(256 / 5)
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'; // RFC 4648 §6, lower-cased

/** sodium-native accepts any typed array; its typings insist on Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function generateIdentity(): Identity {
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES);
  const secretKey = Buffer.alloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function signDetached(identity: Identity, message: Uint8Array): Buffer {
  if (identity.secretKey.length !== SECRET_KEY_BYTES) {
    throw new UsageError(`identity secret key must be ${SECRET_KEY_BYTES} bytes`);
  }
  const signature = Buffer.alloc(SIGNATURE_BYTES);
  sodium.crypto_sign_detached(signature, asBuffer(message), identity.secretKey);
  return signature;
}

export function verifyDetached(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  // The binding asserts on lengths (and accepts over-long signatures); callers
  // pass peer-supplied bytes, so check exactly and never let it throw.
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return sodium.crypto_sign_verify_detached(
      asBuffer(signature),
      asBuffer(message),
      asBuffer(publicKey),
    );
  } catch {
    return false;
  }
}

export function fingerprint(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new UsageError(`a fingerprint is of a ${PUBLIC_KEY_BYTES}-byte public key`);
  }
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of publicKey) {
    acc = ((acc << 8) | byte) & 0xfff; // never need more than 12 pending bits
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32.charAt((acc >>> bits) & 31);
    }
  }
  // 256 = 51 * 5 + 1: the last character carries 1 bit and 4 zero pad bits.
  if (bits > 0) out += BASE32.charAt((acc << (5 - bits)) & 31);
  return out;
}

/**
 * The first 8 characters of a fingerprint, as people read them to each
 * other: of a public key, or of a fingerprint already in text (peer states
 * carry fingerprints), so there is one short form everywhere.
 */
export function shortFingerprint(key: Uint8Array | string): string {
  return (typeof key === 'string' ? key : fingerprint(key)).slice(0, 8);
}

export function parseFingerprint(text: string): Buffer {
  const clean = text.replace(/[\s-]/g, '').toLowerCase();
  if (clean.length !== FINGERPRINT_CHARS) {
    throw new UsageError(
      `a fingerprint has ${FINGERPRINT_CHARS} base32 characters, "${text}" has ${clean.length}`,
    );
  }
  const out = Buffer.alloc(PUBLIC_KEY_BYTES);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const ch of clean) {
    const value = BASE32.indexOf(ch);
    if (value < 0) {
      throw new UsageError(`"${ch}" is not a fingerprint character (a-z, 2-7) in "${text}"`);
    }
    acc = ((acc << 5) | value) & 0xfff; // at most 12 pending bits
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      if (at < PUBLIC_KEY_BYTES) out[at++] = (acc >>> bits) & 0xff;
    }
  }
  // Require zero pad bits so each key has exactly one spelling.
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new UsageError(`"${text}" is not a valid fingerprint (bad last character)`);
  }
  return out;
}

/**
 * Whether `secretKey` (libsodium layout) really holds `publicKey`: re-derived
 * from the seed, since libsodium's sk_to_pk merely copies the stored half and
 * would not catch a seed that no longer matches it.
 */
export function keyPairMatches(publicKey: Uint8Array, secretKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || secretKey.length !== SECRET_KEY_BYTES) return false;
  const derivedPk = Buffer.alloc(PUBLIC_KEY_BYTES);
  const derivedSk = Buffer.alloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_seed_keypair(derivedPk, derivedSk, asBuffer(secretKey).subarray(0, 32));
  return derivedPk.equals(publicKey) && derivedSk.equals(secretKey);
}

/**
 * Transport AEAD: the per-packet hot path.
 *
 * A `PacketKey` is a Noise CipherState's key `k` without its counter `n`
 * (Noise rev 34 §5.1): the transport tracks nonces itself because UDP
 * delivers packets out of order, so the nonce travels in the packet header
 * and is passed in explicitly (the "explicit nonce" use in §11.4).
 *
 * Nonce layout follows §12.3 (ChaChaPoly) and §12.4 (AESGCM): 4 zero bytes,
 * then the 64-bit counter, little-endian for ChaChaPoly and big-endian for
 * AESGCM. Counters are JS numbers, so they stop at 2^53; the only nonce above
 * that is the reserved 2^64-1 used by REKEY (§4.2, §11.3), handled internally.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import sodium from 'sodium-native';
import { UsageError } from '../core/errors.js';

export type CipherName = 'chacha20-poly1305' | 'aes-256-gcm';
export const CIPHER_NAMES: readonly CipherName[] = ['chacha20-poly1305', 'aes-256-gcm'];
export const TAG_LENGTH = 16;
export const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;

export interface PacketKey {
  readonly cipher: CipherName;
  /** Encrypt `plaintext` with `nonce` (a counter, 0 <= nonce < 2^53) and associated data `ad`, writing ciphertext||tag (plaintext.length + 16 bytes) into `out`. `out` MAY be the very same memory as `plaintext` (in-place: out.byteOffset === plaintext.byteOffset, same buffer, out one tag longer). */
  seal(nonce: number, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  /** Decrypt ciphertext||tag into out (length ciphertext.length - 16; may alias the ciphertext start). Returns false (never throws) on authentication failure or bad lengths.
   *  After a false return `out` holds unspecified bytes (libsodium zeroes it), so an in-place caller that wants to try a second key must copy the ciphertext first; `ciphertext` itself is untouched unless it is `out`. */
  open(nonce: number, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean;
  /** Noise REKEY (spec §4.2, §11.3): k' = first 32 bytes of ENCRYPT(k, maxnonce = 2^64-1, ad = empty, plaintext = 32 zero bytes). Returns a new key; this one stays usable. */
  rekey(): PacketKey;
  /**
   * Encrypts `body` in place and writes its 16-byte tag into `tag` (the
   * detached form). The per-packet path uses it so that the associated data
   * and the tag can live in buffers of its own, reused for every packet:
   * only `body` is a view of the datagram (issue 16).
   */
  sealDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): void;
  /**
   * Authenticates `body` against `tag` and `ad`, then decrypts it in place.
   * Returns false (never throws) on authentication failure or bad lengths;
   * `body` then holds unspecified bytes (libsodium zeroes it).
   */
  openDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): boolean;
}

/**
 * @types/sodium-native (2.x) predates the IETF ChaCha20-Poly1305 bindings that
 * sodium-native 5 ships, so we describe the two calls we use ourselves.
 * Both wrappers take any ArrayBufferView; decrypt throws on a bad tag.
 */
interface ChaChaIetf {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): void;
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}
const chacha = sodium as unknown as ChaChaIetf;

const TWO_32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);
const REKEY_ZEROS = new Uint8Array(KEY_LENGTH);

/** 2^64-1 in the §12 layout: 4 zero bytes then eight 0xff (same in either byte order). */
function maxNonce(): Buffer {
  const iv = Buffer.alloc(NONCE_LENGTH);
  iv.fill(0xff, 4);
  return iv;
}

function validNonce(nonce: number): boolean {
  return Number.isSafeInteger(nonce) && nonce >= 0;
}

/**
 * True when the two views share memory without starting at the same byte.
 * libsodium supports exact in-place operation only (its docs: "c and m can
 * overlap" only when equal), and our GCM path copies, so we allow exactly the
 * documented in-place case and disjoint buffers.
 */
function partialOverlap(a: Uint8Array, b: Uint8Array): boolean {
  // byteOffset first: the in-place case (every packet) is decided without
  // touching `.buffer`, which V8 materializes on demand for small views.
  if (a.byteOffset === b.byteOffset || a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function checkSeal(nonce: number, plaintext: Uint8Array, out: Uint8Array): void {
  if (!validNonce(nonce))
    throw new UsageError(`nonce must be an integer in [0, 2^53), got ${nonce}`);
  if (out.length !== plaintext.length + TAG_LENGTH) {
    throw new UsageError(
      `seal output must be ${plaintext.length + TAG_LENGTH} bytes, got ${out.length}`,
    );
  }
  if (partialOverlap(out, plaintext)) {
    throw new UsageError('seal output may alias the plaintext only at the same offset');
  }
}

function openShapeOk(nonce: number, ciphertext: Uint8Array, out: Uint8Array): boolean {
  return (
    validNonce(nonce) &&
    ciphertext.length >= TAG_LENGTH &&
    out.length === ciphertext.length - TAG_LENGTH &&
    !partialOverlap(out, ciphertext)
  );
}

/** §12.3: ChaChaPoly, libsodium's IETF construction (96-bit nonce). */
class ChaChaKey implements PacketKey {
  readonly cipher = 'chacha20-poly1305';
  // Owned copies, allocated once per key so seal/open allocate nothing.
  readonly #key: Buffer;
  readonly #iv = Buffer.alloc(NONCE_LENGTH);

  constructor(key: Uint8Array) {
    this.#key = Buffer.from(key);
  }

  #setNonce(nonce: number): void {
    // Bytes 0..3 stay zero forever; 4..11 are the little-endian counter.
    const lo = nonce % TWO_32;
    this.#iv.writeUInt32LE(lo, 4);
    this.#iv.writeUInt32LE((nonce - lo) / TWO_32, 8);
  }

  seal(nonce: number, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    checkSeal(nonce, plaintext, out);
    this.#setNonce(nonce);
    chacha.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, this.#iv, this.#key);
  }

  open(nonce: number, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean {
    if (!openShapeOk(nonce, ciphertext, out)) return false;
    this.#setNonce(nonce);
    try {
      chacha.crypto_aead_chacha20poly1305_ietf_decrypt(
        out,
        null,
        ciphertext,
        ad,
        this.#iv,
        this.#key,
      );
      return true;
    } catch {
      // libsodium zeroes `out` on failure; with in-place use that wipes the
      // forged ciphertext, which the caller drops anyway.
      return false;
    }
  }

  sealDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): void {
    if (!validNonce(nonce) || tag.length !== TAG_LENGTH)
      throw new UsageError('sealDetached: bad nonce or tag length');
    this.#setNonce(nonce);
    // c === m: libsodium's documented in-place case.
    chacha.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      body,
      tag,
      body,
      ad,
      null,
      this.#iv,
      this.#key,
    );
  }

  openDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): boolean {
    if (!validNonce(nonce) || tag.length !== TAG_LENGTH) return false;
    this.#setNonce(nonce);
    try {
      // The tag is checked before anything is decrypted; on failure libsodium zeroes `body`.
      chacha.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        body,
        null,
        body,
        tag,
        ad,
        this.#iv,
        this.#key,
      );
      return true;
    } catch {
      return false;
    }
  }

  rekey(): PacketKey {
    const out = Buffer.alloc(KEY_LENGTH + TAG_LENGTH);
    chacha.crypto_aead_chacha20poly1305_ietf_encrypt(
      out,
      REKEY_ZEROS,
      EMPTY,
      null,
      maxNonce(),
      this.#key,
    );
    return new ChaChaKey(out.subarray(0, KEY_LENGTH));
  }
}

/**
 * §12.4: AESGCM. sodium-native has no AES-256-GCM (libsodium's needs AES-NI
 * and is not bound), so this uses OpenSSL through node:crypto; creating a
 * cipher object per call is the known, accepted cost of this suite.
 */
class AesGcmKey implements PacketKey {
  readonly cipher = 'aes-256-gcm';
  // createSecretKey copies the bytes into a KeyObject we own; reusing it
  // spares OpenSSL re-importing the raw key on every call.
  readonly #key: KeyObject;
  readonly #iv = Buffer.alloc(NONCE_LENGTH);

  constructor(key: Uint8Array) {
    this.#key = createSecretKey(Buffer.from(key));
  }

  #setNonce(nonce: number): void {
    // Bytes 0..3 zero; 4..11 are the big-endian counter.
    const lo = nonce % TWO_32;
    this.#iv.writeUInt32BE((nonce - lo) / TWO_32, 4);
    this.#iv.writeUInt32BE(lo, 8);
  }

  #encrypt(iv: Buffer, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    const c = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_LENGTH });
    c.setAAD(ad);
    // update() returns fresh memory, so `plaintext` is fully read before we
    // write `out`: that is what makes in-place use safe here.
    const body = c.update(plaintext);
    const rest = c.final();
    out.set(body, 0);
    out.set(rest, body.length);
    out.set(c.getAuthTag(), plaintext.length);
  }

  seal(nonce: number, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
    checkSeal(nonce, plaintext, out);
    this.#setNonce(nonce);
    this.#encrypt(this.#iv, ad, plaintext, out);
  }

  open(nonce: number, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean {
    if (!openShapeOk(nonce, ciphertext, out)) return false;
    this.#setNonce(nonce);
    const split = ciphertext.length - TAG_LENGTH;
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, this.#iv, {
        authTagLength: TAG_LENGTH,
      });
      d.setAAD(ad);
      d.setAuthTag(ciphertext.subarray(split));
      const body = d.update(ciphertext.subarray(0, split));
      const rest = d.final(); // throws on a bad tag
      // Only authenticated plaintext ever reaches `out`.
      out.set(body, 0);
      out.set(rest, body.length);
      return true;
    } catch {
      return false;
    }
  }

  sealDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): void {
    if (!validNonce(nonce) || tag.length !== TAG_LENGTH)
      throw new UsageError('sealDetached: bad nonce or tag length');
    this.#setNonce(nonce);
    const c = createCipheriv('aes-256-gcm', this.#key, this.#iv, { authTagLength: TAG_LENGTH });
    c.setAAD(ad);
    const out = c.update(body); // fresh memory: in place is safe
    const rest = c.final();
    body.set(out, 0);
    body.set(rest, out.length);
    tag.set(c.getAuthTag(), 0);
  }

  openDetached(nonce: number, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): boolean {
    if (!validNonce(nonce) || tag.length !== TAG_LENGTH) return false;
    this.#setNonce(nonce);
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, this.#iv, {
        authTagLength: TAG_LENGTH,
      });
      d.setAAD(ad);
      d.setAuthTag(tag);
      const out = d.update(body);
      const rest = d.final(); // throws on a bad tag
      // Only authenticated plaintext ever reaches `body`.
      body.set(out, 0);
      body.set(rest, out.length);
      return true;
    } catch {
      return false;
    }
  }

  rekey(): PacketKey {
    const out = Buffer.alloc(KEY_LENGTH + TAG_LENGTH);
    this.#encrypt(maxNonce(), EMPTY, REKEY_ZEROS, out);
    return new AesGcmKey(out.subarray(0, KEY_LENGTH));
  }
}

export function createPacketKey(cipher: CipherName, key: Uint8Array): PacketKey {
  if (key.length !== KEY_LENGTH) {
    throw new UsageError(`${cipher} key must be ${KEY_LENGTH} bytes, got ${key.length}`);
  }
  switch (cipher) {
    case 'chacha20-poly1305':
      return new ChaChaKey(key);
    case 'aes-256-gcm':
      return new AesGcmKey(key);
    default:
      throw new UsageError(`unknown cipher ${String(cipher)}`);
  }
}

/**
 * Long-term Ed25519 identity: key generation, detached signatures,
 * human-comparable fingerprints and the on-disk identity file.
 *
 * The identity is separate from the X25519 keys the Noise handshake uses
 * (Noise rev 34 §12.1 is X25519 only); it signs over the handshake instead.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import sodium from 'sodium-native';
import { UsageError } from '../core/errors.js';

export interface Identity {
  readonly publicKey: Buffer /* 32 */;
  readonly secretKey: Buffer /* 64, libsodium format */;
}

const PUBLIC_KEY_BYTES = 32;
const SECRET_KEY_BYTES = 64; // libsodium layout: 32-byte seed || 32-byte public key
const SIGNATURE_BYTES = 64;
const FINGERPRINT_CHARS = 52; // ceil(256 / 5)
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'; // RFC 4648 §6, lower-cased

export const IDENTITY_FILE_VERSION = 1;
const FILE_TYPE = 'srmudp-identity';

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

export function shortFingerprint(publicKey: Uint8Array): string {
  return fingerprint(publicKey).slice(0, 8);
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

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
}

/** Strict base64: Buffer.from() silently skips junk, which would hide corruption. */
function decodeKey(path: string, value: unknown, field: string, length: number): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new UsageError(`identity file ${path}: ${field} is missing or not base64`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) {
    throw new UsageError(`identity file ${path}: ${field} is not canonical base64`);
  }
  if (bytes.length !== length) {
    throw new UsageError(
      `identity file ${path}: ${field} must be ${length} bytes, found ${bytes.length}`,
    );
  }
  return bytes;
}

/** Validates the file contents. Messages name the file and never echo contents. */
function parseIdentityFile(path: string, text: string): Identity {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the input, i.e. possibly the secret key.
    throw new UsageError(`identity file ${path} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new UsageError(`identity file ${path} is not a JSON object`);
  }
  const fields = doc as Record<string, unknown>;
  if (fields.type !== FILE_TYPE) {
    throw new UsageError(`${path} is not an srmudp identity file (type is not "${FILE_TYPE}")`);
  }
  if (fields.version !== IDENTITY_FILE_VERSION) {
    const newer = typeof fields.version === 'number' && fields.version > IDENTITY_FILE_VERSION;
    throw new UsageError(
      `identity file ${path} has unsupported version ${JSON.stringify(fields.version) ?? 'none'}` +
        (newer ? ' (written by a newer version?)' : ''),
    );
  }
  const publicKey = decodeKey(path, fields.publicKey, 'publicKey', PUBLIC_KEY_BYTES);
  const secretKey = decodeKey(path, fields.secretKey, 'secretKey', SECRET_KEY_BYTES);
  // Re-derive from the seed: libsodium's sk_to_pk merely copies the stored
  // half, which would not catch a seed that no longer matches.
  const derivedPk = Buffer.alloc(PUBLIC_KEY_BYTES);
  const derivedSk = Buffer.alloc(SECRET_KEY_BYTES);
  sodium.crypto_sign_seed_keypair(derivedPk, derivedSk, secretKey.subarray(0, 32));
  if (!derivedPk.equals(publicKey) || !derivedSk.equals(secretKey)) {
    throw new UsageError(`identity file ${path}: public key does not match the secret key`);
  }
  return { publicKey, secretKey };
}

async function loadIdentity(path: string): Promise<Identity | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new UsageError(`cannot read identity file ${path}: ${errorCode(err)}`);
  }
  try {
    let text: string;
    let mode: number;
    try {
      // fstat the handle we read so the checked file is the loaded file.
      mode = (await handle.stat()).mode;
      text = await handle.readFile('utf8');
    } catch (err) {
      throw new UsageError(`cannot read identity file ${path}: ${errorCode(err)}`);
    }
    if (process.platform !== 'win32' && (mode & 0o066) !== 0) {
      throw new UsageError(
        `identity file ${path} is accessible by group/others (mode ${(mode & 0o777).toString(8)}); ` +
          `run: chmod 600 ${path}`,
      );
    }
    return parseIdentityFile(path, text);
  } finally {
    await handle.close();
  }
}

function serialize(identity: Identity): string {
  const doc = {
    type: FILE_TYPE,
    version: IDENTITY_FILE_VERSION,
    publicKey: identity.publicKey.toString('base64'),
    secretKey: identity.secretKey.toString('base64'),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Writes `path` only if it does not exist; false if another creator won. */
async function createExclusive(path: string, contents: string): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const write = async (target: string): Promise<void> => {
    const handle = await open(target, 'wx', 0o600);
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
  };
  try {
    await write(tmp);
    try {
      // link() fails with EEXIST instead of replacing, unlike rename(), so a
      // concurrent creator's file is never clobbered, and readers only ever
      // see a complete file.
      await link(tmp, path);
      return true;
    } catch (err) {
      if (errorCode(err) === 'EEXIST') return false;
      // Filesystems without hard links: exclusive create in place instead.
      try {
        await write(path);
        return true;
      } catch (err2) {
        if (errorCode(err2) === 'EEXIST') return false;
        throw err2;
      }
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  } catch (err) {
    throw new UsageError(`cannot create identity file ${path}: ${errorCode(err)}`);
  }
}

/** Loads the identity at `path`, or creates it (and missing parent dirs, mode 0700) when the file does not exist. File: JSON {"type":"srmudp-identity","version":1,"publicKey":"<base64>","secretKey":"<base64>"}, created with mode 0600 atomically (write a temp file in the same dir with flag 'wx' and mode 0o600, then link/rename so a concurrent creator can't be clobbered; never overwrite an existing file). Errors are UsageError whose message names the file path and the problem: unreadable, not JSON, wrong type/version ("written by a newer version?"), bad key lengths, public key not matching the secret key, and — on POSIX only (process.platform !== 'win32') — a file readable or writable by group/others ("chmod 600 <path>"). The secret key never appears in any error message. */
export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  const existing = await loadIdentity(path);
  if (existing) return existing;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UsageError(`cannot create directory for identity file ${path}: ${errorCode(err)}`);
  }
  const identity = generateIdentity();
  if (await createExclusive(path, serialize(identity))) return identity;
  // Someone else created it between our read and our link: theirs wins.
  const winner = await loadIdentity(path);
  if (!winner) throw new UsageError(`identity file ${path} vanished while being created`);
  return winner;
}

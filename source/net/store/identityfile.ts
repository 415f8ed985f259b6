/**
 * The identity key file: JSON
 *   {"type":"srmudp-identity","version":1,"publicKey":"<base64>","secretKey":"<base64>"}
 * created 0600 (parents 0700) and never overwritten. Kept out of crypto/ so the
 * core imports no node:fs.
 */
import { open, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomicwrite.js';
import { UsageError } from '../core/errors.js';
import {
  generateIdentity,
  type Identity,
  keyPairMatches,
  PUBLIC_KEY_BYTES,
  SECRET_KEY_BYTES,
} from '../crypto/identity.js';

export const IDENTITY_FILE_VERSION = 1;
const FILE_TYPE = 'srmudp-identity';

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
  if (!keyPairMatches(publicKey, secretKey)) {
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

/**
 * Loads the identity at `path`, or creates it when the file does not exist.
 * Creation is exclusive (writeFileAtomic's link() step): an existing file, or
 * a symlink planted at `path`, is never replaced, and a concurrent creator's
 * key wins over ours. Errors are UsageErrors naming the file and the problem:
 * unreadable, not JSON, wrong type/version ("written by a newer version?"),
 * bad key lengths, a public key not matching the secret key, and, on POSIX, a
 * file group/others can access ("chmod 600 <path>"). The secret key never
 * appears in a message.
 */
export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  const existing = await loadIdentity(path);
  if (existing) return existing;
  const identity = generateIdentity();
  let created: boolean;
  try {
    created = await writeFileAtomic(path, serialize(identity), {
      exclusive: true,
      mode: 0o600,
      dirMode: 0o700,
    });
  } catch (err) {
    throw new UsageError(`cannot create identity file ${path}: ${errorCode(err)}`);
  }
  if (created) return identity;
  // Someone else created it between our read and our link: theirs wins.
  const winner = await loadIdentity(path);
  if (!winner) throw new UsageError(`identity file ${path} vanished while being created`);
  return winner;
}

/**
 * Writes `identity` back to `path` when the file is gone (its directory was
 * deleted while we ran): otherwise the next start would make a new key, and
 * every friend would see a key change. Exclusive, as creation: a file found
 * at `path` is never replaced. True when it wrote the file.
 */
export async function restoreIdentityFile(path: string, identity: Identity): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') return false;
  }
  try {
    return await writeFileAtomic(path, serialize(identity), {
      exclusive: true,
      mode: 0o600,
      dirMode: 0o700,
    });
  } catch (err) {
    throw new UsageError(`cannot write identity file ${path} again: ${errorCode(err)}`);
  }
}

import { readFile, stat } from 'node:fs/promises';
import { quoteForDisplay } from '../chat/sanitize.js';
import {
  fingerprint,
  parseFingerprint,
  parseHostPort,
  UsageError,
  validateNick,
} from '../index.js';
import { writeFileAtomic } from '../util/atomicwrite.js';

/**
 * The peers file written by /save and read by /load and `-c FILE`:
 *
 *   {
 *     "type": "srmudp-peers",
 *     "version": 1,
 *     "peers": [
 *       { "nick": "bob", "address": "127.0.0.1:9000", "fingerprint": "<optional, 52 base32 chars>" }
 *     ]
 *   }
 *
 * - `nick`: what we call the peer (1-32 letters, digits, `_`, `.`, `-`).
 * - `address`: `host:port` or `[ipv6]:port`; host names are resolved when loaded into a socket.
 * - `fingerprint` (optional): the key we expect there. When present, a peer
 *   answering with another key is reported and dropped.
 *
 * Unknown fields are ignored (so newer minor additions still load). Nicks,
 * addresses and fingerprints must each be unique. Loading never writes;
 * saving goes through writeFileAtomic (exclusive random temp name, fsync,
 * rename), so a crash never leaves half a file.
 */

export const PEERS_FILE_TYPE = 'srmudp-peers';
export const PEERS_FILE_VERSION = 1;
/** A peers file bigger than this is not a peers file. */
export const MAX_PEERS_FILE_BYTES = 1024 * 1024;

export interface PeerEntry {
  nick: string;
  /** Absent only for a peer known by key alone that was never found (known-peers store). */
  address?: string;
  fingerprint?: string;
  /** Added by key (/add <nick> <fingerprint>): looked up by key again at start. */
  lookup?: boolean;
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err as Error).message;
}

/** The canonical spelling of an address, for duplicate detection. */
function addressKey(address: string): string {
  const { host, port } = parseHostPort(address);
  return `${host.toLowerCase()}:${port}`;
}

/**
 * Checks one entry, returning it normalised (fingerprint in canonical form,
 * address trimmed) or a problem description.
 */
/** An entry of a peers file: there, an address is required. */
type FileEntry = PeerEntry & { address: string };

function checkEntry(value: unknown, where: string): FileEntry | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `${where} is not an object`;
  }
  const e = value as Record<string, unknown>;
  if (typeof e.nick !== 'string') return `${where}.nick is missing or not a string`;
  try {
    validateNick(e.nick);
  } catch {
    return `${where}.nick ${quoteForDisplay(e.nick)} is not a valid nickname`;
  }
  if (typeof e.address !== 'string') return `${where}.address is missing or not a string`;
  if (e.address.length > 300) return `${where}.address is too long`;
  try {
    parseHostPort(e.address);
  } catch {
    return `${where}.address ${quoteForDisplay(e.address)} is not host:port`;
  }
  const entry: FileEntry = { nick: e.nick, address: e.address.trim() };
  if (e.fingerprint !== undefined) {
    if (typeof e.fingerprint !== 'string') return `${where}.fingerprint is not a string`;
    try {
      entry.fingerprint = fingerprint(parseFingerprint(e.fingerprint));
    } catch {
      return `${where}.fingerprint ${quoteForDisplay(e.fingerprint)} is not a fingerprint`;
    }
  }
  return entry;
}

/** Validates a whole list; the first problem found, or the normalised entries. */
function checkEntries(list: readonly unknown[]): FileEntry[] | string {
  const out: FileEntry[] = [];
  const nicks = new Map<string, number>();
  const addresses = new Map<string, number>();
  const fingerprints = new Map<string, number>();
  for (const [i, value] of list.entries()) {
    const where = `peers[${i}]`;
    const entry = checkEntry(value, where);
    if (typeof entry === 'string') return entry;
    const dup = (seen: Map<string, number>, key: string, what: string) => {
      const first = seen.get(key);
      if (first !== undefined) return `${where}.${what} duplicates peers[${first}].${what}`;
      seen.set(key, i);
      return undefined;
    };
    const problem =
      dup(nicks, entry.nick, 'nick') ??
      dup(addresses, addressKey(entry.address), 'address') ??
      (entry.fingerprint === undefined
        ? undefined
        : dup(fingerprints, entry.fingerprint, 'fingerprint'));
    if (problem) return problem;
    out.push(entry);
  }
  return out;
}

/** Reads and validates a peers file. Every problem is a UsageError naming the file. */
export async function loadPeersFile(path: string): Promise<PeerEntry[]> {
  const bad = (why: string) => new UsageError(`peers file ${path} is not valid: ${why}`);
  let text: string;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new UsageError(`peers file ${path} is a directory`);
    if (info.size > MAX_PEERS_FILE_BYTES) {
      throw bad(`it is ${info.size} bytes (the limit is ${MAX_PEERS_FILE_BYTES})`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (code(err) === 'ENOENT') throw new UsageError(`peers file ${path} does not exist`);
    throw new UsageError(`cannot read peers file ${path}: ${code(err)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw bad('not a JSON object');
  }
  const obj = data as Record<string, unknown>;
  if (obj.type !== PEERS_FILE_TYPE) throw bad(`"type" is not "${PEERS_FILE_TYPE}"`);
  if (obj.version !== PEERS_FILE_VERSION) {
    const newer = typeof obj.version === 'number' && obj.version > PEERS_FILE_VERSION;
    throw bad(
      `"version" is ${quoteForDisplay(String(obj.version))}, not ${PEERS_FILE_VERSION}${newer ? ' (written by a newer version?)' : ''}`,
    );
  }
  if (!Array.isArray(obj.peers)) throw bad('"peers" is not a list');
  const entries = checkEntries(obj.peers);
  if (typeof entries === 'string') throw bad(entries);
  return entries;
}

/** The file's text for these peers (validated; a bad entry is a UsageError). */
export function formatPeersFile(peers: readonly PeerEntry[]): string {
  const entries = checkEntries(peers);
  if (typeof entries === 'string') throw new UsageError(`cannot save peers: ${entries}`);
  const body = {
    type: PEERS_FILE_TYPE,
    version: PEERS_FILE_VERSION,
    peers: entries.map((e) => ({
      nick: e.nick,
      address: e.address,
      ...(e.fingerprint ? { fingerprint: e.fingerprint } : {}),
    })),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Writes the peers atomically (util/atomicwrite). Problems are UsageErrors naming the file. */
export async function savePeersFile(path: string, peers: readonly PeerEntry[]): Promise<void> {
  const text = formatPeersFile(peers);
  try {
    await writeFileAtomic(path, text, { mode: 0o600 });
  } catch (err) {
    throw new UsageError(`cannot write peers file ${path}: ${code(err)}`);
  }
}

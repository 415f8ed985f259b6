import { type Addr, normalizeIp } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import type { NatMapping } from '../core/events.js';
import { IPV4_LENGTH, IPV6_LENGTH, ipFromBytes, ipToBytes } from '../wire/ip.js';
import { Reader } from '../wire/reader.js';

/**
 * The discovery record: what an invite code holds (nick, candidate
 * addresses, NAT mapping), published under our identity key — in the
 * Mainline DHT as the `v` of a BEP 44 mutable item, on the LAN in an mDNS
 * TXT entry. The key itself is not inside: BEP 44 carries it as `k` (and
 * signs `salt/seq/v` with it), mDNS names it in the service instance.
 *
 *   version:u8(1) nat:u8 nickLength:u8 nick
 *   count:u8 (kind:u8 family:u8(4|6) ip:4|16 port:u16){count}
 *   (extType:u8 extLength:u8 extValue){*}
 *
 * - nat: 0 unknown, 1 endpoint-independent, 2 endpoint-dependent (the codes
 *   of nat/introduce.ts).
 * - kind: 0 host (a local interface address), 1 reflexive (STUN, RFC 8489),
 *   2 relayed (TURN, RFC 8656); reflexive first, as in invite codes.
 * - Extensions are how a later build adds fields without a new version: a
 *   reader skips types it does not know but still checks their framing.
 *
 * At most MAX_RECORD_BYTES in all: BEP 44 §"Mutable items" caps the
 * bencoded `v` at 1000 bytes, and `996:` plus 996 bytes is exactly that.
 * Any other version, a truncated field, a bad code, a port 0 or a record
 * over the cap is a BadPacket.
 */
export const RECORD_VERSION = 1;
export const MAX_RECORD_BYTES = 996;
export const MAX_RECORD_CANDIDATES = 8;
export const MAX_RECORD_NICK_BYTES = 64;

export type CandidateKind = 'host' | 'reflexive' | 'relayed';

export interface Candidate extends Addr {
  kind: CandidateKind;
}

export interface DiscoveryRecord {
  nick: string;
  candidates: Candidate[];
  nat: NatMapping;
}

const NAT_CODES: readonly NatMapping[] = ['unknown', 'endpoint-independent', 'endpoint-dependent'];
const KIND_CODES: readonly CandidateKind[] = ['host', 'reflexive', 'relayed'];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes our own record; a record we could not publish is our caller's bug (UsageError). */
export function encodeRecord(record: DiscoveryRecord): Buffer {
  const nick = Buffer.from(record.nick, 'utf8');
  if (nick.length > MAX_RECORD_NICK_BYTES)
    throw new UsageError(`a nick of ${nick.length} bytes does not fit a discovery record`);
  if (record.candidates.length > MAX_RECORD_CANDIDATES)
    throw new UsageError(`a discovery record holds at most ${MAX_RECORD_CANDIDATES} candidates`);
  const parts: Buffer[] = [
    Buffer.from([RECORD_VERSION, NAT_CODES.indexOf(record.nat), nick.length]),
    nick,
    Buffer.from([record.candidates.length]),
  ];
  for (const c of record.candidates) {
    const ip = ipToBytes(c.address);
    if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535)
      throw new UsageError(`bad candidate port ${c.port}`);
    const head = Buffer.from([KIND_CODES.indexOf(c.kind), ip.length === IPV6_LENGTH ? 6 : 4]);
    const port = Buffer.allocUnsafe(2);
    port.writeUInt16BE(c.port);
    parts.push(head, ip, port);
  }
  return Buffer.concat(parts);
}

/** Decodes hostile bytes (from the DHT or the LAN). Throws BadPacket only. */
export function decodeRecord(data: Uint8Array): DiscoveryRecord {
  if (data.length > MAX_RECORD_BYTES)
    throw new BadPacket('malformed', `a discovery record of ${data.length} bytes`);
  const r = new Reader(data);
  const version = r.u8('record version');
  if (version !== RECORD_VERSION)
    throw new BadPacket('version', `discovery record version ${version}`);
  const nat = NAT_CODES[r.u8('nat mapping')];
  if (nat === undefined) throw new BadPacket('malformed', 'bad nat mapping');
  const nick = readNick(r);
  const count = r.u8('candidate count');
  if (count > MAX_RECORD_CANDIDATES) throw new BadPacket('malformed', 'too many candidates');
  const candidates: Candidate[] = [];
  for (let i = 0; i < count; i++) candidates.push(readCandidate(r));
  skipExtensions(r);
  return { nick, candidates, nat };
}

function readNick(r: Reader): string {
  const length = r.u8('nick length');
  if (length > MAX_RECORD_NICK_BYTES) throw new BadPacket('malformed', 'nick too long');
  try {
    return utf8.decode(r.bytes(length, 'nick'));
  } catch (err) {
    if (err instanceof BadPacket) throw err;
    throw new BadPacket('malformed', 'nick is not valid UTF-8');
  }
}

function readCandidate(r: Reader): Candidate {
  const kind = KIND_CODES[r.u8('candidate kind')];
  if (kind === undefined) throw new BadPacket('malformed', 'bad candidate kind');
  const family = r.u8('address family');
  let address: string;
  if (family === 4) address = ipFromBytes(r.bytes(IPV4_LENGTH, 'ipv4'));
  else if (family === 6) address = ipFromBytes(r.bytes(IPV6_LENGTH, 'ipv6'));
  else throw new BadPacket('malformed', 'bad address family');
  const port = r.u8('port') * 256 + r.u8('port');
  if (port === 0) throw new BadPacket('malformed', 'port 0');
  return { kind, address: normalizeIp(address), port };
}

/** No extension type is defined in version 1: check the framing, skip the value. */
function skipExtensions(r: Reader): void {
  while (r.remaining > 0) {
    r.u8('extension type');
    const length = r.u8('extension length');
    r.bytes(length, 'extension value');
  }
}

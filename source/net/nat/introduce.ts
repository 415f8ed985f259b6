import { type Addr, normalizeIp } from '../core/address.js';
import { BadPacket } from '../core/errors.js';
import type { NatMapping } from '../core/events.js';
import { IPV4_LENGTH, IPV6_LENGTH, ipFromBytes, ipToBytes } from '../wire/ip.js';
import { Reader } from '../wire/reader.js';

/**
 * Introductions travel as messages on the reserved control stream, inside the
 * encrypted session (so only a connected peer can make one):
 *
 *   version:u8 type:u8(1 = introduce) identity:32 nickLength:u8 nick
 *   count:u8 (family:u8(4|6) ip:4|16 port:u16){count} [nat:u8]
 *
 * (ip in network byte order, as wire/ip.ts codes it.)
 *
 * `nat` (added later; absent means unknown) is how the introduced node's NAT
 * maps it, from its own STUN: 0 unknown, 1 endpoint-independent (cone or no
 * NAT), 2 endpoint-dependent (symmetric). When it is known in an invite code,
 * the first address is the STUN-reflexive one. Decoders before it ignore the
 * trailing byte; later bytes are reserved and ignored.
 *
 * After `nat` (then always written, 0 when unknown) come tagged sections;
 * a tag this decoder does not know ends the record (the rest is ignored, so
 * later versions can add sections). Tag 1 (issue 17) is the node's relayed
 * transport addresses (RFC 8656): `1 count:u8 (family ip port){count}`,
 * candidates of the lowest priority, reached through a relay. Decoders
 * before it stop at `nat`.
 *
 * "Bob introduces Carol to Alice": Alice learns Carol's key, nick and the
 * address Bob sees her at, and both punch towards each other at once.
 *
 *   version:u8 type:u8(2 = nat mapping) nat:u8
 *
 * A node whose STUN result arrives (or changes) after a peer connected tells
 * that peer its mapping this way (codes as above); the peer stores it as if
 * it had come in our Hello flags (wire/hello.ts), so it can pass it on in
 * later introductions. Later bytes are reserved and ignored.
 *
 * A message of a type (or version) this node does not know is ignored (and
 * counted), never fatal to the session: that is what lets later versions
 * add types without breaking older nodes.
 */
export const CONTROL_STREAM = 1;
const CONTROL_VERSION = 1;
const INTRODUCE = 1;
const NAT_MAPPING = 2;
const MAX_INTRODUCED_ADDRS = 4;
/** Relayed candidates carried: one per relay a node may hold. */
const MAX_RELAYED_ADDRS = 2;
/** The section after `nat` that lists relayed candidates. */
const RELAYED_SECTION = 1;

export interface Introduction {
  identity: Buffer;
  nick: string;
  addrs: Addr[];
  /** The introduced node's NAT mapping behaviour (from its STUN); undefined = unknown. */
  nat?: NatMapping;
  /** Its relayed transport addresses on TURN relays (lowest-priority candidates). */
  relayed?: Addr[];
}

/** One control-stream message, as decodeControl reads it. */
export type ControlMessage =
  | { type: 'introduce'; intro: Introduction }
  | { type: 'nat-mapping'; nat: NatMapping }
  /** A version or type we do not know: to be ignored (and counted). */
  | { type: 'unknown'; version: number; code: number };

const NAT_CODES: readonly NatMapping[] = ['unknown', 'endpoint-independent', 'endpoint-dependent'];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeIntroduction(intro: Introduction): Buffer {
  const nick = Buffer.from(intro.nick, 'utf8').subarray(0, 64);
  const addrs = intro.addrs.slice(0, MAX_INTRODUCED_ADDRS);
  const parts: Buffer[] = [
    Buffer.from([CONTROL_VERSION, INTRODUCE]),
    intro.identity,
    Buffer.from([nick.length]),
    nick,
  ];
  pushAddrs(parts, addrs);
  const relayed = (intro.relayed ?? []).slice(0, MAX_RELAYED_ADDRS);
  const nat = intro.nat ?? 'unknown';
  if (nat !== 'unknown' || relayed.length > 0) parts.push(Buffer.from([NAT_CODES.indexOf(nat)]));
  if (relayed.length > 0) {
    parts.push(Buffer.from([RELAYED_SECTION]));
    pushAddrs(parts, relayed);
  }
  return Buffer.concat(parts);
}

/** `count:u8 (family:u8 ip port:u16){count}`. */
function pushAddrs(parts: Buffer[], addrs: readonly Addr[]): void {
  parts.push(Buffer.from([addrs.length]));
  for (const a of addrs) {
    const ip = ipToBytes(a.address);
    const port = Buffer.allocUnsafe(2);
    port.writeUInt16BE(a.port);
    parts.push(Buffer.from([ip.length === IPV6_LENGTH ? 6 : 4]), ip, port);
  }
}

/** Our NAT mapping, for peers that connected before STUN told us (or before it changed). */
export function encodeNatMapping(nat: NatMapping): Buffer {
  return Buffer.from([CONTROL_VERSION, NAT_MAPPING, NAT_CODES.indexOf(nat)]);
}

/** Any control message. Throws BadPacket (only) for a malformed one of a known type. */
export function decodeControl(data: Uint8Array): ControlMessage {
  const r = new Reader(data);
  const version = r.u8('control version');
  const code = r.u8('control type');
  if (version !== CONTROL_VERSION) return { type: 'unknown', version, code };
  if (code === INTRODUCE) return { type: 'introduce', intro: introductionBody(r) };
  if (code === NAT_MAPPING) return { type: 'nat-mapping', nat: natCode(r) };
  return { type: 'unknown', version, code };
}

/** An introduction only (invite codes carry one): anything else is a BadPacket. */
export function decodeIntroduction(data: Uint8Array): Introduction {
  const r = new Reader(data);
  if (r.u8('control version') !== CONTROL_VERSION)
    throw new BadPacket('protocol', 'unknown control version');
  if (r.u8('control type') !== INTRODUCE)
    throw new BadPacket('protocol', 'unknown control message');
  return introductionBody(r);
}

function natCode(r: Reader): NatMapping {
  const nat = NAT_CODES[r.u8('nat mapping')];
  if (nat === undefined) throw new BadPacket('protocol', 'bad nat mapping');
  return nat;
}

function introductionBody(r: Reader): Introduction {
  const identity = Buffer.from(r.bytes(32, 'introduced identity'));
  const nickLength = r.u8('nick length');
  if (nickLength > 64) throw new BadPacket('protocol', 'nick too long');
  let nick: string;
  const nickBytes = r.bytes(nickLength, 'nick');
  try {
    nick = utf8.decode(nickBytes);
  } catch {
    throw new BadPacket('protocol', 'nick is not valid UTF-8');
  }
  const addrs = readAddrs(r, MAX_INTRODUCED_ADDRS);
  if (r.remaining === 0) return { identity, nick, addrs };
  const nat = natCode(r);
  const intro: Introduction =
    nat === 'unknown' ? { identity, nick, addrs } : { identity, nick, addrs, nat };
  if (r.remaining === 0 || r.u8('section') !== RELAYED_SECTION) return intro;
  const relayed = readAddrs(r, MAX_RELAYED_ADDRS);
  return relayed.length > 0 ? { ...intro, relayed } : intro;
}

function readAddrs(r: Reader, max: number): Addr[] {
  const count = r.u8('address count');
  if (count > max) throw new BadPacket('protocol', 'too many addresses');
  const addrs: Addr[] = [];
  for (let i = 0; i < count; i++) {
    const family = r.u8('address family');
    let address: string;
    if (family === 4) address = ipFromBytes(r.bytes(IPV4_LENGTH, 'ipv4'));
    else if (family === 6) address = ipFromBytes(r.bytes(IPV6_LENGTH, 'ipv6'));
    else throw new BadPacket('protocol', 'bad address family');
    const hi = r.u8('port');
    const port = hi * 256 + r.u8('port');
    if (port === 0) throw new BadPacket('protocol', 'port 0');
    addrs.push({ address: normalizeIp(address), port });
  }
  return addrs;
}

import { fingerprint, parseFingerprint } from '../../crypto/identity.js';
import { decodeInvite, isInviteCode } from '../../nat/invite.js';
import { type Addr, parseHostPort } from '../address.js';
import { UsageError } from '../errors.js';
import type { NatMapping } from '../events.js';
import { validateNick } from '../names.js';

/**
 * How a caller names a peer for `addPeers`: an address (`host:port`), an
 * invite code, a fingerprint alone (found by discovery), or
 * `{ address?, fingerprint? }` with at least one of the two.
 */
export type PeerAddress =
  | string
  | {
      /** `host:port`, an invite code, or several of them. */
      address?: string | readonly string[];
      /** The key it must prove: the 52-character fingerprint the chat shows. */
      fingerprint?: string;
    };

/** A checked entry: what to resolve, what an invite code carried, and the expected key. */
export interface ParsedPeerEntry {
  nick: string;
  /** `host:port` texts still to resolve. */
  hosts: string[];
  /** Addresses from an invite code (already literal). */
  invited: Addr[];
  /** Relayed addresses from an invite code (its TURN allocation). */
  relayed: Addr[];
  key: Buffer | undefined;
  nat: NatMapping | undefined;
  /** Only a key was given: discovery must find the addresses. */
  byKey: boolean;
}

/** A bare fingerprint where an address was expected: no `:` (every host:port has one), 52 base32 characters. */
function looksLikeFingerprint(text: string): boolean {
  return !text.includes(':') && /^[a-z2-7]{52}$/i.test(text.replace(/[\s-]/g, ''));
}

/** Checks one entry completely (throws UsageError), before anything is added. */
export function parsePeerEntry(
  nick: string,
  value: PeerAddress,
  opts: { discovery?: boolean } = {},
): ParsedPeerEntry {
  validateNick(nick);
  const spec =
    typeof value === 'string'
      ? looksLikeFingerprint(value)
        ? { fingerprint: value }
        : { address: value }
      : value;
  if (typeof spec !== 'object' || spec === null)
    throw new UsageError(`${nick}: give an address, an invite code or { address, fingerprint }`);
  const texts =
    spec.address === undefined
      ? []
      : typeof spec.address === 'string'
        ? [spec.address]
        : [...spec.address];
  const out: ParsedPeerEntry = {
    nick,
    hosts: [],
    invited: [],
    relayed: [],
    key: undefined,
    nat: undefined,
    byKey: false,
  };
  for (const text of texts) {
    if (typeof text !== 'string') throw new UsageError(`${nick}: an address must be a string`);
    if (isInviteCode(text)) {
      const invite = decodeInvite(text);
      if (out.key && !out.key.equals(invite.identity))
        throw new UsageError(`${nick}: two invite codes with different keys`);
      out.key = invite.identity;
      out.nat = invite.nat;
      out.invited.push(...invite.addrs);
      out.relayed.push(...(invite.relayed ?? []));
    } else {
      parseHostPort(text);
      out.hosts.push(text);
    }
  }
  if (spec.fingerprint !== undefined) {
    const key = parseFingerprint(spec.fingerprint);
    if (out.key && !out.key.equals(key)) {
      throw new UsageError(
        `${nick}: the invite code carries key ${fingerprint(out.key)}, but the fingerprint given is ${fingerprint(key)}`,
      );
    }
    out.key = key;
  }
  if (out.hosts.length === 0 && out.invited.length === 0 && out.relayed.length === 0) {
    // Only a key (a fingerprint, or a key-only invite code): discovery finds it.
    if (out.key !== undefined && opts.discovery) out.byKey = true;
    else
      throw new UsageError(
        out.key !== undefined
          ? `${nick}: a key alone (a fingerprint or a key-only invite code) needs discovery (bind with dht or mdns on), or give an address or an invite code with addresses`
          : `${nick}: no address given`,
      );
  }
  return out;
}

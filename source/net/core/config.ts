import type { CipherName } from '../crypto/cipher.js';
import type { Identity } from '../crypto/identity.js';
import { BASE_PLPMTU, isValidMaxDatagram, MAX_PLPMTU } from '../recovery/pmtu.js';
import type { Addr } from './address.js';
import { UsageError } from './errors.js';
import type { NatMapping } from './events.js';

export interface EndpointConfig {
  identity: Identity;
  nick: string;
  cipher?: CipherName;
  /** Accept sessions from keys we do not know (default true, as the original). */
  acceptStrangers?: boolean;
  /** Identity keys whose handshakes are refused. */
  blocked?: Iterable<Uint8Array>;
  /** Known name → key pins (from a trust store). */
  pins?: Iterable<[string, Uint8Array]>;
  /**
   * Introduce connected peers to each other so that joining one member of a
   * chat connects you to the mesh (default true). Off: we neither introduce
   * nor accept introductions, and our Hello asks peers not to introduce us
   * (introductions reveal an address to the whole mesh).
   */
  introductions?: boolean;
  /** Most peer records kept (default MAX_PEERS); old disconnected strangers make room. */
  maxPeers?: number;
  /**
   * Largest datagram path-MTU discovery may use, in [1200, 1452] (default
   * 1452). Sessions start at 1200 bytes and probe upward (recovery/pmtu.ts);
   * 1200 turns the search off.
   */
  maxDatagramSize?: number;
  /** This host's addresses: what a third party may point us at is judged against them (nat/targets.ts). */
  localAddresses?: readonly string[];
  /** For tests: Noise REKEY interval in packets. */
  rekeyInterval?: number;
  /** The one source of randomness the core uses (secrets, challenges); default: the system CSPRNG. */
  random?: (n: number) => Buffer;
  /** For deterministic tests: source of random session indices. */
  randomIndex?: () => number;
  /** For deterministic tests: uniform in [0, 1), which ports many-port probing sprays. */
  randomUnit?: () => number;
}

export interface Transmit {
  to: Addr;
  data: Buffer;
  /** An extra (probing) socket to send from, opened by a SocketCommand; undefined = the main socket. */
  via?: number;
  /** TURN to a relay we reach over TCP/TLS (core/relay.ts): the shell writes it on that connection. */
  stream?: true;
}

/** What the user tells us about a peer: where it is, and optionally which key it must have. */
export interface PeerSpec {
  addrs: Addr[];
  /** The identity it must prove (an invite code's or a fingerprint the user gave). */
  key?: Uint8Array | undefined;
  /** From an invite code: how the peer's NAT maps it (its first address is then the reflexive one). */
  nat?: NatMapping | undefined;
  /** Its relayed transport addresses on TURN relays (an invite code's): dialed after the direct ones. */
  relayed?: Addr[] | undefined;
  /**
   * No address yet: discovery (DHT, LAN) looks `key` up and adds what it
   * finds. The name is pinned to the key now, so nobody else can take it
   * while the lookup runs.
   */
  lookup?: boolean | undefined;
}

/** The datagram ceiling path-MTU discovery may reach, checked. */
export function validMaxDatagram(size: number | undefined): number {
  if (size === undefined) return MAX_PLPMTU;
  if (!isValidMaxDatagram(size)) {
    throw new UsageError(
      `maxDatagramSize must be a whole number of bytes from ${BASE_PLPMTU} to ${MAX_PLPMTU}, not ${size}`,
    );
  }
  return size;
}

import type { Addr } from './address.js';

/**
 * Everything the sans-I/O endpoint reports, in one place. The socket layer
 * turns these into its public typed events.
 */

/** Why a peer is (not) connected, in words a user can act on. */
export type PeerState =
  | { kind: 'connecting'; since: number; attempt: number }
  | { kind: 'connected'; since: number }
  | { kind: 'unreachable'; since: number; reason: string }
  /** Only a key is known: discovery (DHT, LAN) is looking it up. */
  | { kind: 'looking-up'; since: number }
  | { kind: 'disconnected'; since: number; reason: string; cause: DisconnectCause }
  | { kind: 'key-mismatch'; since: number; expected: string; got: string };

/**
 * Why a peer's last session ended, as data: policy (redial backoff, whether
 * an introduction may call the peer back) reads this, never the reason text,
 * which a remote peer partly writes (its CLOSE reason).
 */
export type DisconnectCause =
  /** We ended it: removed, blocked, evicted, closing, or the peer broke the protocol. */
  | { kind: 'local'; code: number }
  /** The peer's authenticated CLOSE frame, with its code (wire/frames.ts CloseCode). */
  | { kind: 'remote'; code: number }
  /** Nothing heard for IDLE_TIMEOUT. */
  | { kind: 'idle-timeout' }
  /** A valid stateless reset: the peer no longer has the session. */
  | { kind: 'reset' };

export type PeerChange =
  | 'added'
  | 'connected'
  | 'disconnected'
  | 'restarted'
  | 'renamed'
  | 'removed'
  | 'state';

/** The 'peer' event a move to `next` reports by default. */
export function changeFor(next: PeerState): PeerChange {
  if (next.kind === 'connected') return 'connected';
  if (next.kind === 'disconnected') return 'disconnected';
  return 'state';
}

export type EndpointEvent =
  | { type: 'peer'; nick: string; change: PeerChange; previousNick?: string }
  | { type: 'message'; nick: string; stream: number; data: Buffer }
  | { type: 'delivered'; id: number; peerId: number; nick: string }
  | { type: 'undeliverable'; id: number; peerId: number; nick: string; reason: string }
  /** A user-given name was pinned to the key that answered there (trust on first use). */
  | { type: 'pinned'; nick: string; fingerprint: string }
  /** The user removed a pinned name: its pin is gone (the socket forgets it on disk too). */
  | { type: 'unpinned'; nick: string }
  | { type: 'error'; code: ErrorCode; message: string; nick?: string; address?: Addr }
  /** A STUN round finished a transaction: our public address and NAT mapping as known so far. */
  | { type: 'stun'; publicAddress: Addr | undefined; mapping: NatMapping; done: boolean }
  /** Our TURN allocation (core/relay.ts) was made, or lost: `relayed` is the candidate it gives. */
  | { type: 'relay'; state: 'allocated' | 'failed'; relayed: Addr | undefined; server: Addr };

/** How our NAT maps us, from STUN (RFC 4787 terms). */
export type NatMapping = 'endpoint-independent' | 'endpoint-dependent' | 'unknown';

export type ErrorCode =
  | 'key-mismatch'
  | 'cipher-mismatch'
  | 'self-connect'
  | 'protocol'
  | 'unreachable'
  | 'stun'
  | 'relay';

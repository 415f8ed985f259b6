import type { EventEmitter } from 'node:events';
import type { EndpointStats, PeerStats } from '../core/endpoint.js';
import type { TransportError } from '../core/errors.js';
import type { NatMapping, PeerChange, PeerState } from '../core/events.js';
import type { PeerAddress } from '../core/peers/entry.js';
import type { CipherName } from '../crypto/cipher.js';
import type { Identity } from '../crypto/identity.js';
import type { DiscoveryStats } from '../discovery/discovery.js';
import type { DiscoveryBindOptions } from '../discovery/settings.js';
import type { ProbingStats } from '../nat/birthday.js';
import type { RelayOption } from './relayuri.js';

/**
 * The shapes of the public socket API (options, messages, peer reports,
 * events), kept apart from the classes so every shell module can share them
 * without importing the socket itself.
 */

/** `dht` and `mdns` (finding peers by key, off by default): see discovery/settings.ts. */
export interface BindOptions extends DiscoveryBindOptions {
  nick: string;
  /** UDP port; 0 (default) picks a free one. */
  port?: number;
  /** Address to bind; default `::` (dual-stack), falling back to `0.0.0.0`. */
  host?: string;
  /** Peers to add at once: `{ nick: 'host:port' }`. */
  peers?: Record<string, PeerAddress>;
  /** Identity key file (created 0600 if missing). Without it (and `identity`) the identity is ephemeral. */
  identityPath?: string;
  identity?: Identity;
  /** JSON file of names pinned to keys. Without it pins live in memory only. */
  trustStore?: string;
  /** Per-packet cipher; both sides must choose the same. Default chacha20-poly1305. */
  cipher?: CipherName;
  /** Accept sessions from unknown keys (default true). */
  acceptStrangers?: boolean;
  /** Fingerprints to refuse. */
  blocked?: string[];
  /**
   * Introduce connected peers to each other, and accept introductions, so
   * joining one member connects you to the mesh (default true). Off keeps
   * your address from being passed around the mesh.
   */
  introductions?: boolean;
  /**
   * STUN servers (`host:port`) to ask for our public address from this very
   * socket. Default: none — the library never contacts a server you did not
   * name. Two or more also tell whether our NAT is symmetric.
   */
  stun?: string[];
  /** STUN retransmission timeout in ms (RFC 8489 default 500). */
  stunRto?: number;
  /**
   * TURN relays (RFC 8656), as WebRTC's RTCIceServer: `{ urls: 'turn:host[:port]',
   * username, credential }`. An allocation is made from this very socket when
   * bound; its relayed address is then in invite codes, and peers no direct
   * path reaches are reached through it. Default: none.
   */
  relays?: RelayOption[];
  /**
   * Initial retransmission timeout of TURN requests over UDP, in ms (RFC 8489
   * §6.2.1: 500). An Allocate unanswered after its 7 transmissions (39.5 s
   * at 500) moves a `turn:` relay to TCP; tests shorten it.
   */
  relayRto?: number;
  /** Messages kept for receive() when no hook or listener takes them (default 10,000). */
  receiveQueueLimit?: number;
  /**
   * Bytes of message content kept for receive() (default 32 MiB). Past this
   * or `receiveQueueLimit`, the oldest queued messages are discarded: counted
   * in stats (`queueDropped`, `queueDroppedBytes`) and reported once per
   * overflow as an 'error' event with code 'receive-queue-full'.
   */
  receiveQueueBytes?: number;
  /** Default send() timeout in ms (default 30,000). */
  sendTimeout?: number;
  /** Requested kernel receive buffer (default 4 MiB; Linux caps it at net.core.rmem_max). */
  receiveBufferSize?: number;
  /**
   * Largest datagram path-MTU discovery may use, 1200-1452 bytes (default
   * 1452). Each session starts at 1200 and probes up; 1200 turns probing off.
   */
  maxDatagramSize?: number;
}

export interface Message {
  content: Buffer;
  /** Nick of the sender, as this node names it. */
  peer: string;
  /** When we received it: ms since the epoch by our clock. */
  timestamp: number;
  stream: number;
}

export interface PeerInfo {
  nick: string;
  /** `host:port` of the current (or last known / dialed) path. */
  address: string | undefined;
  fingerprint: string | undefined;
  pinned: boolean;
  announcedNick: string | undefined;
  /** The nick of the peer whose introduction brought this one, if one did. */
  introducedBy?: string;
  /**
   * Set when the user added this name at an address without a key and the
   * session came from that IP on another port (a symmetric NAT): taken as
   * this peer, its key not pinned until `trustNewKey(nick)` confirms it.
   * `from` is where it answered (`host:port`).
   */
  unconfirmed?: { from: string };
  state: PeerState;
  stats: PeerStats;
}

export interface SocketStats extends EndpointStats {
  localAddress: string;
  fingerprint: string;
  receiveBufferSize: number;
  sendBufferSize: number;
  /** Messages discarded because the receive() queue was full (in messages or bytes). */
  queueDropped: number;
  /** Content bytes of those messages. */
  queueDroppedBytes: number;
  /** Messages and content bytes waiting for receive() now. */
  queuedMessages: number;
  queuedBytes: number;
  /** Datagrams the OS refused to send (e.g. no route). */
  sendErrors: number;
  /** From STUN, when asked (see BindOptions.stun). */
  publicAddress: string | undefined;
  natMapping: NatMapping;
  /** Many-port probing (toward symmetric NATs): all zero unless it ever ran. */
  probing: ProbingStats;
  /** Our TURN allocation, when relays are configured (see BindOptions.relays). */
  relay: RelayInfo | undefined;
  uptime: number;
  /** Finding peers by key (DHT, mDNS): undefined when neither is on. */
  discovery: DiscoveryStats | undefined;
}

export interface RelayInfo {
  /** `host:port` of the relay in use. */
  server: string | undefined;
  /** 'released': given back after minutes unused (the path went direct); allocated again when needed. */
  state:
    | 'idle'
    | 'allocating'
    | 'allocated'
    | 'closing'
    | 'closed'
    | 'failed'
    | 'released'
    | 'none';
  /** How we reach the relay: UDP on the peer socket, or a TCP / TLS connection (RFC 8656 §12.5). */
  transport: 'udp' | 'tcp' | 'tls' | undefined;
  /** Why it failed (refused, TLS failure, pin mismatch, wrong credentials...) or moved to TCP. */
  reason: string | undefined;
  /** Our relayed address (`host:port`): a candidate in our invite codes. */
  relayed: string | undefined;
  /** Payload bytes relayed each way, and datagrams from the relay dropped. */
  bytesSent: number;
  bytesReceived: number;
  dropped: number;
  /**
   * The same by why, only the non-zero: `noPermission` (a Data indication
   * from a peer we gave no permission, RFC 8656 §11.4), `unknownChannel`
   * (ChannelData on a channel not bound, §12.4), `malformed`, `notForUs`,
   * `wrongSource`.
   */
  droppedBy: Partial<
    Record<'malformed' | 'wrongSource' | 'unknownChannel' | 'noPermission' | 'notForUs', number>
  >;
}

export interface SendOptions {
  /** A nick or list of nicks; omitted = every connected peer. */
  recipient?: string | string[];
  /** ms to wait for every recipient's acknowledgement (default: the socket's sendTimeout). */
  timeout?: number;
}

export interface StunInfo {
  /** Our address as the STUN servers saw it (`host:port`), once known. */
  publicAddress: string | undefined;
  /** 'endpoint-dependent' means a symmetric NAT: direct punching will mostly fail. */
  mapping: NatMapping;
  /** Every server has answered or timed out. */
  done: boolean;
}

export interface SocketEvents {
  stun: [StunInfo];
  message: [Message];
  peer: [PeerInfo, PeerChange];
  stats: [SocketStats];
  error: [TransportError];
}

/** Network-caused errors go to 'error' listeners if any; never thrown. */
export function reportError(emitter: EventEmitter<SocketEvents>, err: TransportError): void {
  if (emitter.listenerCount('error') > 0) emitter.emit('error', err);
}

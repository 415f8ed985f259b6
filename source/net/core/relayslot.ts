import { TurnClient, type TurnState } from '../nat/turn.js';
import type { Addr } from './address.js';

/**
 * One configured relay of the relay room (relay.ts): its TURN client, how
 * it is reached, and what `stats()` shows of it. Kept apart so the room
 * holds only the decisions (which allocation to use, when to race a
 * stream, when to release).
 */

/** One TURN server to allocate on (the shell resolved its URI). */
export interface RelayServer {
  server: Addr;
  username: string;
  password: string;
  /**
   * How the TURN messages travel: 'udp' on the peer socket, or 'stream'
   * (TCP or TLS, RFC 8656 §12.5) through a connection the shell keeps: our
   * transmits to it are marked `stream`, and what comes back is fed to
   * `handleDatagram(…, overStream = true)`. Default 'udp'.
   */
  transport?: 'udp' | 'stream';
  /** UDP first; when the Allocate gets no answer at all, the same server over a stream. */
  fallback?: boolean;
  /** Initial retransmission timeout over UDP in ms (RFC 8489 §6.2.1: 500); a stream never retransmits. */
  rto?: number;
}

/** What `stats()` shows of our allocation. */
export interface RelayStats {
  /** The relay in use (the first to answer), or the first configured while none has. */
  server: Addr | undefined;
  /** 'released': given back after IDLE_RELEASE_MS unused; allocated again when a relay is needed. */
  state: TurnState | 'none' | 'released';
  /** How we reach it: 'stream' is TCP or TLS (the shell knows which). */
  transport: 'udp' | 'stream' | undefined;
  /** Why the last attempt failed, or why we moved to a stream; undefined while all is well. */
  reason: string | undefined;
  /** Our relayed transport address: a candidate peers can reach us at. */
  relayed: Addr | undefined;
  /** Our address as the relay saw it (XOR-MAPPED-ADDRESS): a server-reflexive candidate. */
  mapped: Addr | undefined;
  /** Payload bytes relayed each way. */
  bytesSent: number;
  bytesReceived: number;
  /** Datagrams from the relay dropped (no permission, unknown channel, malformed...). */
  dropped: number;
  /** The same, by why (RFC 8656 §11.4 no permission, §12.4 unknown channel...): only the non-zero. */
  droppedBy: Partial<Record<RelayDropReason, number>>;
}

/** Why a datagram from the relay was dropped (TurnClient.dropped). */
export type RelayDropReason = keyof TurnClient['dropped'];

/** One configured relay: its current client and how it is reached. */
export interface Slot {
  config: RelayServer;
  client: TurnClient;
  stream: boolean;
  reason: string | undefined;
  /** Bytes relayed by the clients this slot had before the current one. */
  earlier: { sent: number; received: number };
  /** A UDP slot marked `fallback`: when to try the same server by stream too, if UDP is still silent. */
  fallbackAt: number | undefined;
  /** The same server by the other transport, racing this one (happy eyeballs, see FALLBACK_AFTER_RTOS). */
  partner: Slot | undefined;
}

/** RFC 8489 §6.2.1's initial RTO, which a server config may override. */
export const DEFAULT_RTO = 500;
/**
 * A UDP Allocate still unanswered when its third transmission goes (0, 1
 * and 3 RTOs: 1.5 s at 500 ms) most likely meets a network that drops
 * outbound UDP; a relay's round trip is far shorter. Then the same server
 * is tried by stream as well (RFC 8656 §3.1 allows TCP to it), in the
 * spirit of happy eyeballs (RFC 8305 §5: start the next attempt after a
 * short delay, keep the first one running): whichever allocates first is
 * kept, so a UDP answer arriving late still wins over a TCP connection
 * that has not allocated yet. Waiting for the whole transaction timeout
 * (39.5 s) instead kept a UDP-blocked node without a relay that long.
 */
export const FALLBACK_AFTER_RTOS = 3;

/**
 * RFC 8489 §6.2.2: over a reliable transport a request is sent once (TCP
 * retransmits) and fails after Ti = 39.5 s, i.e. 79 of the 500 ms RTOs.
 */
const STREAM_TX = { maxTransmits: 1, lastWaitFactor: 79 };

/** A TURN client for `config`, over a stream (no retransmission) or UDP. */
export function newClient(
  config: RelayServer,
  stream: boolean,
  random: (n: number) => Buffer,
): TurnClient {
  return new TurnClient({
    server: config.server,
    username: config.username,
    password: config.password,
    randomBytes: random,
    ...(stream ? STREAM_TX : config.rto !== undefined ? { rto: config.rto } : {}),
  });
}

/** How long a UDP Allocate may stay unanswered before a stream races it (FALLBACK_AFTER_RTOS). */
export function fallbackDelay(config: RelayServer): number {
  return FALLBACK_AFTER_RTOS * (config.rto ?? DEFAULT_RTO);
}

/** What `stats()` shows of `s` (`released`: the room gave its allocation back for want of use). */
export function slotStats(s: Slot | undefined, released: boolean): RelayStats {
  const c = s?.client;
  const dropped = c ? Object.values(c.dropped).reduce((a, b) => a + b, 0) : 0;
  const droppedBy: Partial<Record<RelayDropReason, number>> = {};
  if (c)
    for (const [why, n] of Object.entries(c.dropped) as [RelayDropReason, number][])
      if (n > 0) droppedBy[why] = n;
  return {
    server: c?.server,
    state: !c ? 'none' : released ? 'released' : c.state,
    transport: s ? (s.stream ? 'stream' : 'udp') : undefined,
    reason: s?.reason,
    relayed: c?.state === 'allocated' ? c.relayed : undefined,
    mapped: c?.mapped,
    bytesSent: (s?.earlier.sent ?? 0) + (c?.relayedBytes.sent ?? 0),
    bytesReceived: (s?.earlier.received ?? 0) + (c?.relayedBytes.received ?? 0),
    dropped,
    droppedBy,
  };
}

import type { ErrorCode } from './events.js';

/**
 * Errors, split by who is to blame, so each is handled by whoever can act on
 * it (the readme's "The library" section lists what users see of them):
 *
 * - `BadPacket`: the network's fault. Thrown by every decoder that reads hostile
 *   bytes; callers drop the datagram, count it by `reason` and carry on.
 * - `UsageError`: the caller's fault (bad nick, bad address, message too large).
 * - `TransportError`: an operation could not complete (timeout, peer gone).
 * Anything else escaping the transport is our bug.
 */

/** Why a datagram was dropped; also the key of the per-reason drop counters. */
export type DropReason =
  | 'truncated'
  | 'malformed'
  | 'version'
  | 'unknown-type'
  | 'unknown-session'
  | 'decrypt'
  | 'replay'
  | 'handshake'
  | 'rate-limited'
  | 'blocked'
  | 'stranger'
  | 'protocol';

export class BadPacket extends Error {
  override readonly name = 'BadPacket';
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message);
  }
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Every code a TransportError carries: the endpoint's error events, and the socket's own. */
export type TransportErrorCode =
  | ErrorCode
  | 'closed'
  | 'backpressure'
  | 'socket'
  | 'timeout'
  | 'trust-store'
  | 'undeliverable'
  | 'receive-queue-full';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    readonly code: TransportErrorCode,
  ) {
    super(message);
  }
}

import type { Addr } from '../core/address.js';
import type { TurnCredentials } from './turn-tx.js';

/**
 * What the TURN client (turn.ts) is told and what it tells: its options, its
 * states and its events. Kept apart so the code that wires a client to a
 * socket and to the peers imports the vocabulary without the machine.
 */

export type TurnOp = 'allocate' | 'refresh' | 'permission' | 'channel' | 'close';

export type TurnEvent =
  | { kind: 'allocated'; relayed: Addr; mapped: Addr | undefined; lifetime: number }
  | { kind: 'refreshed'; lifetime: number }
  | { kind: 'permission'; ip: string }
  | { kind: 'channel'; peer: Addr; channel: number }
  /** `data` is a view into the datagram handed to `handleDatagram`. */
  | { kind: 'data'; peer: Addr; data: Buffer; channel: number | undefined }
  /** `code` is the server's ERROR-CODE, undefined when it never answered. */
  | { kind: 'failed'; op: TurnOp; code: number | undefined; reason: string; peer?: Addr }
  | { kind: 'closed' };

export type TurnState = 'idle' | 'allocating' | 'allocated' | 'closing' | 'closed' | 'failed';

export interface TurnClientOptions extends TurnCredentials {
  server: Addr;
  /** Requested allocation lifetime in seconds (RFC 8656 §7.2: default 600). */
  lifetime?: number;
  rto?: number;
  maxTransmits?: number;
  lastWaitFactor?: number;
  software?: string;
  randomBytes?: (n: number) => Buffer;
}

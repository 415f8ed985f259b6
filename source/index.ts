/** Public library entry: `import { MultiHolepunchSocket } from 'srmudp-tui'`. */

export { parseHostPort } from './net/address.js';
export type { ProbingStats } from './net/birthday.js';
export type { CipherName } from './net/crypto/cipher.js';
export { fingerprint, shortFingerprint } from './net/crypto/identity.js';
export type { PeerStats } from './net/endpoint.js';
export { BadPacket, TransportError, UsageError } from './net/errors.js';
export type { PeerChange, PeerState } from './net/events.js';
export {
  type BindOptions,
  DEFAULT_RECEIVE_QUEUE_LIMIT,
  DEFAULT_SEND_TIMEOUT,
  type Message,
  MultiHolepunchSocket,
  type PeerInfo,
  type SendOptions,
  type SocketEvents,
  type SocketStats,
} from './net/socket.js';
export { MAX_MESSAGE_SIZE } from './net/stream.js';

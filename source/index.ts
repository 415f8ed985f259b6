/** Public library entry: `import { MultiHolepunchSocket } from 'srmudp-tui'`. */

export { parseHostPort } from './net/core/address.js';
export { MAX_MESSAGE_SIZE } from './net/core/conn/streamlimits.js';
export type { PeerStats } from './net/core/endpoint.js';
export { BadPacket, TransportError, UsageError } from './net/core/errors.js';
export type { DisconnectCause, PeerChange, PeerState } from './net/core/events.js';
export { confusableWith, nickSkeleton, validateNick } from './net/core/names.js';
export type { PeerAddress } from './net/core/peers/entry.js';
export type { CipherName } from './net/crypto/cipher.js';
export { fingerprint, parseFingerprint, shortFingerprint } from './net/crypto/identity.js';
export type { DiscoveryStats } from './net/discovery/discovery.js';
export type { RejectReason } from './net/discovery/policy.js';
export {
  type CandidateKind,
  type DiscoveryRecord,
  decodeRecord,
  encodeRecord,
  MAX_RECORD_BYTES,
} from './net/discovery/record.js';
export {
  type DhtBindOptions,
  type DiscoveryBindOptions,
  PUBLIC_ROUTERS,
} from './net/discovery/settings.js';
export type { ProbingStats } from './net/nat/birthday.js';
export { decodeInvite, isInviteCode } from './net/nat/invite.js';
export { BASE_PLPMTU, isValidMaxDatagram, MAX_PLPMTU } from './net/recovery/pmtu.js';
export { describeState } from './net/shell/describe.js';
export { parseTurnUri, type RelayOption, type TurnUri } from './net/shell/relayuri.js';
export {
  type BindOptions,
  DEFAULT_RECEIVE_QUEUE_LIMIT,
  DEFAULT_SEND_TIMEOUT,
  type Message,
  MultiHolepunchSocket,
  type PeerInfo,
  type RelayInfo,
  type SendOptions,
  type SocketEvents,
  type SocketStats,
  type StunInfo,
} from './net/shell/socket.js';

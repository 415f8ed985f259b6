/**
 * What the two halves of a stream (sendstream.ts, recvstream.ts) agree on. A
 * stream, after RFC 9000 §2-§3, is a byte sequence carried in STREAM frames
 * (§19.8) at explicit offsets; messages are framed inside it as
 * [varint length (§16)][bytes]. Both ends bound it with a fixed window instead
 * of flow-control credit (§4): these constants are that contract.
 */

/** Largest message a caller may send (documented in the readme). */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/**
 * How far past the oldest unacknowledged byte a sender may run, and how far
 * past its delivered data a receiver buffers. A fixed window instead of
 * QUIC's MAX_STREAM_DATA credit: simple, and it bounds reassembly memory.
 */
export const SEND_WINDOW = 4 * 1024 * 1024;
export const RECV_WINDOW = 2 * SEND_WINDOW;

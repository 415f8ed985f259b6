import { BadPacket } from '../core/errors.js';

/**
 * TURN over a byte stream (TCP or TLS to the relay, RFC 8656 §12.5, as
 * RFC 6062 frames it): STUN messages and ChannelData back to back with no
 * other framing. Each says its own length: a STUN header's length field
 * (RFC 8489 §5: bytes after the 20-byte header, a multiple of 4) and a
 * ChannelData header's (§12.4: the data, then padding to a multiple of 4,
 * which over a stream MUST be sent and is not counted in the length).
 *
 * Pure: bytes in, whole messages out, the padding stripped so each message
 * is what the same relay would have sent in one UDP datagram and the UDP
 * decoders read it unchanged. A stream cannot resynchronise after garbage,
 * so anything that is neither STUN nor ChannelData, or a length past the
 * bound, is a `BadPacket`: the caller closes the connection.
 */

const STUN_HEADER = 20;
const CHANNEL_HEADER = 4;

/**
 * Largest message accepted off the stream. Ours carry one datagram of at
 * most 1452 bytes (MAX_PLPMTU) plus the TURN headers around it (a Data
 * indication adds under 100 bytes); 4 KiB leaves room for a relay's long
 * error reasons and realm names while keeping a hostile length from
 * holding 64 KiB per connection.
 */
export const MAX_STREAM_FRAME = 4096;

/** `data` (a message the TURN client made for UDP) as it goes on the stream: ChannelData padded to 4 (§12.5). */
export function frameForStream(data: Buffer): Buffer {
  const pad = isChannelDataByte(data[0]) ? (4 - (data.length % 4)) % 4 : 0;
  return pad === 0 ? data : Buffer.concat([data, Buffer.alloc(pad)]);
}

function isChannelDataByte(b: number | undefined): boolean {
  return b !== undefined && b >= 0x40 && b <= 0x4f;
}

/**
 * Cuts a byte stream into messages. Holds at most one partial message
 * (under `max` bytes): memory per connection is bounded whatever the peer
 * sends. After a `BadPacket` it stays broken: every later push throws too.
 */
export class StreamFramer {
  private pending: Buffer = Buffer.alloc(0);
  private broken: BadPacket | undefined;

  constructor(private readonly max = MAX_STREAM_FRAME) {}

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Appends `chunk`; returns the messages it completed, in order (views, never mutated later). */
  push(chunk: Uint8Array): Buffer[] {
    if (this.broken) throw this.broken;
    const buf =
      this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    try {
      for (;;) {
        const size = this.frameSize(buf, at);
        if (size === undefined || buf.length - at < size.total) break;
        out.push(buf.subarray(at, at + size.message));
        at += size.total;
      }
    } catch (err) {
      if (err instanceof BadPacket) this.broken = err;
      this.pending = Buffer.alloc(0);
      throw err;
    }
    // A copy: the rest of a large chunk must not pin the whole chunk.
    this.pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return out;
  }

  /** The next message's length on the stream and without its padding; undefined until its header is in. */
  private frameSize(buf: Buffer, at: number): { message: number; total: number } | undefined {
    if (buf.length - at < 1) return undefined;
    const first = buf[at]!;
    const stun = first < 0x40;
    if (!stun && !isChannelDataByte(first)) {
      throw new BadPacket(
        'malformed',
        `TURN stream: byte 0x${first.toString(16)} starts neither STUN nor ChannelData`,
      );
    }
    if (stun && first >= 4) {
      // RFC 8489 §5: the two top bits are 0, and a type past 0x3fff is not STUN either.
      throw new BadPacket('malformed', `TURN stream: byte 0x${first.toString(16)} is not STUN`);
    }
    if (buf.length - at < 4) return undefined;
    const length = buf.readUInt16BE(at + 2);
    if (stun) {
      if (length % 4 !== 0)
        throw new BadPacket(
          'malformed',
          `TURN stream: STUN length ${length} is not a multiple of 4`,
        );
      return this.bounded(STUN_HEADER + length, STUN_HEADER + length);
    }
    const message = CHANNEL_HEADER + length;
    return this.bounded(message, message + ((4 - (length % 4)) % 4));
  }

  private bounded(message: number, total: number): { message: number; total: number } {
    if (total > this.max) {
      throw new BadPacket(
        'malformed',
        `TURN stream: a ${total}-byte message exceeds the ${this.max}-byte bound`,
      );
    }
    return { message, total };
  }
}

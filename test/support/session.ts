import { randomBytes } from 'node:crypto';
import type { Addr } from '../../source/net/core/address.js';
import { Session, type SessionInit } from '../../source/net/core/conn/session.js';
import { createPacketKey, KEY_LENGTH, TAG_LENGTH } from '../../source/net/crypto/cipher.js';
import { decodeFrames, type Frame } from '../../source/net/wire/frames.js';
import { decodePacket, PacketType } from '../../source/net/wire/packet.js';

/**
 * A session as a completed handshake leaves it, for unit tests of what sits
 * on top of one (paths, packet assembly, the session set, binding): fresh
 * random keys, and the raw send key so that `openSealed` can read back what
 * it sealed. Any field of SessionInit may be given; the rest are fixed
 * (indexes 1 and 2, responder, static keys of 3s and 4s, time 0).
 */
export function testSession(
  init: Partial<Omit<SessionInit, 'sendKey' | 'recvKey'>> & { path: Addr },
): { session: Session; sendKey: Buffer } {
  const sendKey = randomBytes(KEY_LENGTH);
  const session = new Session({
    localIndex: 1,
    remoteIndex: 2,
    initiator: false,
    initiatorStatic: Buffer.alloc(32, 3),
    remoteStatic: Buffer.alloc(32, 4),
    now: 0,
    ...init,
    sendKey: createPacketKey('chacha20-poly1305', sendKey),
    recvKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
  });
  return { session, sendKey };
}

/** A DATA packet a `testSession` sealed with `sendKey`: its number and decoded frames. */
export function openSealed(sendKey: Buffer, data: Buffer): { pn: number; frames: Frame[] } {
  const p = decodePacket(Buffer.from(data));
  if (p.type !== PacketType.Data) throw new Error('not DATA');
  const plain = Buffer.alloc(p.sealed.length - TAG_LENGTH);
  if (!createPacketKey('chacha20-poly1305', sendKey).open(p.pn, p.header, p.sealed, plain))
    throw new Error('does not open');
  return { pn: p.pn, frames: decodeFrames(plain) };
}

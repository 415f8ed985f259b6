import { createHash, createHmac } from 'node:crypto';
import { type CipherName, createPacketKey, type PacketKey } from '../../crypto/cipher.js';
import { type Identity, signDetached, verifyDetached } from '../../crypto/identity.js';
import { type DhKeyPair, generateDhKeyPair, HandshakeState } from '../../crypto/noise.js';
import { decodeHello, encodeHello, type Hello, STATIC_BINDING_CONTEXT } from '../../wire/hello.js';
import { CipherId, INIT_HEADER_LENGTH, MIN_INIT_SIZE } from '../../wire/packet.js';
import { BadPacket } from '../errors.js';

/**
 * The Noise XX handshake as we use it (Noise rev 34 §7.5):
 *
 *   INIT    -> e                  payload: zero padding (anti-amplification)
 *   RESP    <- e, ee, s, es       payload: responder's Hello
 *   FINISH  -> s, se              payload: initiator's Hello
 *
 * The prologue binds the protocol and the chosen cipher (§6), so a cipher
 * byte altered on the wire makes the handshake fail instead of downgrading.
 * Each Hello carries the Ed25519 identity and its signature over the sender's
 * static key; the Noise static key itself is fresh per process, so a new one
 * under a known identity means that peer restarted.
 */

/** Everything about us that goes into handshakes. */
export interface LocalNode {
  identity: Identity;
  staticKey: DhKeyPair;
  /** Identity signature over STATIC_BINDING_CONTEXT || staticKey.publicKey. */
  binding: Buffer;
  nick: string;
  cipher: CipherName;
  /** Secret behind our stateless-reset tokens; derived from the identity, so it survives restarts. */
  resetKey: Buffer;
  /** Hello flags (see HelloFlag). */
  flags: number;
}

export function createLocalNode(
  identity: Identity,
  nick: string,
  cipher: CipherName,
  flags = 0,
): LocalNode {
  const staticKey = generateDhKeyPair();
  const binding = signDetached(
    identity,
    Buffer.concat([STATIC_BINDING_CONTEXT, staticKey.publicKey]),
  );
  const resetKey = createHash('sha256')
    .update('srmudp-tui reset key v1\0')
    .update(identity.secretKey)
    .digest();
  return { identity, staticKey, binding, nick, cipher, resetKey, flags };
}

/** The token a RESET for our session `index` must carry (RFC 9000 §10.3.2). */
export function resetToken(local: LocalNode, index: number): Buffer {
  const i = Buffer.allocUnsafe(4);
  i.writeUInt32BE(index >>> 0);
  return createHmac('sha256', local.resetKey).update(i).digest().subarray(0, 16);
}

export function cipherId(cipher: CipherName): number {
  return CipherId[cipher];
}

export function cipherFromId(id: number): CipherName | undefined {
  if (id === CipherId['chacha20-poly1305']) return 'chacha20-poly1305';
  if (id === CipherId['aes-256-gcm']) return 'aes-256-gcm';
  return undefined;
}

function prologue(cipher: CipherName): Buffer {
  return Buffer.concat([Buffer.from('srmudp-tui/1 ', 'latin1'), Buffer.from([cipherId(cipher)])]);
}

function newState(local: LocalNode, initiator: boolean): HandshakeState {
  return new HandshakeState({
    pattern: 'XX',
    initiator,
    cipher: local.cipher,
    prologue: prologue(local.cipher),
    s: local.staticKey,
  });
}

function hello(local: LocalNode, localIndex: number): Buffer {
  return encodeHello({
    identity: local.identity.publicKey,
    signature: local.binding,
    resetToken: resetToken(local, localIndex),
    nick: local.nick,
    flags: local.flags,
  });
}

/** INIT header (with cookie) and the ephemeral key come first; the rest is padding. */
const INIT_PADDING = MIN_INIT_SIZE - INIT_HEADER_LENGTH - 32;

export function startInitiator(local: LocalNode): { state: HandshakeState; message: Buffer } {
  const state = newState(local, true);
  const message = state.writeMessage(Buffer.alloc(INIT_PADDING));
  return { state, message };
}

/** Responder: reads INIT, writes RESP. Throws BadPacket. */
export function respond(
  local: LocalNode,
  init: Uint8Array,
  localIndex: number,
): { state: HandshakeState; message: Buffer } {
  const state = newState(local, false);
  state.readMessage(init);
  return { state, message: state.writeMessage(hello(local, localIndex)) };
}

export interface Completed {
  hello: Hello;
  remoteStatic: Buffer;
  sendKey: PacketKey;
  recvKey: PacketKey;
}

/** Decodes the peer's Hello and checks its identity signed the Noise static key. */
function verifiedHello(
  state: HandshakeState,
  payload: Buffer,
): { hello: Hello; remoteStatic: Buffer } {
  const h = decodeHello(payload);
  const remoteStatic = state.remoteStatic;
  if (!remoteStatic) throw new BadPacket('handshake', 'no remote static key');
  const signed = Buffer.concat([STATIC_BINDING_CONTEXT, remoteStatic]);
  if (!verifyDetached(h.identity, signed, h.signature)) {
    throw new BadPacket('handshake', 'identity signature does not cover the static key');
  }
  return { hello: h, remoteStatic };
}

function keys(local: LocalNode, state: HandshakeState): { sendKey: PacketKey; recvKey: PacketKey } {
  const { sendKey, recvKey } = state.split();
  return {
    sendKey: createPacketKey(local.cipher, sendKey),
    recvKey: createPacketKey(local.cipher, recvKey),
  };
}

/** Initiator: reads RESP, writes FINISH. Throws BadPacket. */
export function initiatorFinish(
  local: LocalNode,
  state: HandshakeState,
  resp: Uint8Array,
  localIndex: number,
): Completed & { message: Buffer } {
  // The responder is verified before our own identity goes out in FINISH.
  const verified = verifiedHello(state, state.readMessage(resp));
  const message = state.writeMessage(hello(local, localIndex));
  return { ...verified, ...keys(local, state), message };
}

/** Responder: reads FINISH. Throws BadPacket. */
export function responderFinish(
  local: LocalNode,
  state: HandshakeState,
  finish: Uint8Array,
): Completed {
  const verified = verifiedHello(state, state.readMessage(finish));
  return { ...verified, ...keys(local, state) };
}

import { BadPacket } from '../core/errors.js';
import { Reader } from './reader.js';

/**
 * The payload each side encrypts into its static-key-bearing Noise message
 * (XX message 2 for the responder, message 3 for the initiator):
 *
 *   version:u8 identity:32 signature:64 resetToken:16 nickLength:u8 nick:utf8 [flags:u8]
 *
 * `signature` is the Ed25519 identity key's signature over
 * STATIC_BINDING_CONTEXT || the sender's Noise static public key: it binds the
 * per-process static key to the long-term identity, as libp2p's Noise handshake
 * does. `resetToken` is the stateless-reset token for the session index the
 * sender chose (RFC 9000 §10.3): proof, later, that a RESET really comes from
 * this identity. `flags` bit 0 asks peers not to introduce us to others (our
 * address stays private); bits 1 and 2 say how our NAT maps us, as our STUN
 * found (1: endpoint-independent, 2: endpoint-dependent, neither: unknown), so
 * an introducer can tell the peers it introduces (birthday.ts); a Hello
 * without flags means 0. Later bytes are reserved for extensions and ignored.
 */
export const HELLO_VERSION = 1;
export const MAX_NICK_BYTES = 64;
export const STATIC_BINDING_CONTEXT = Buffer.from('srmudp-tui static key v1\0', 'latin1');

export const RESET_TOKEN_LENGTH = 16;

export const HelloFlag = { NoIntroductions: 1, NatIndependent: 2, NatDependent: 4 } as const;

export interface Hello {
  identity: Buffer;
  signature: Buffer;
  resetToken: Buffer;
  nick: string;
  flags?: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeHello(hello: Hello): Buffer {
  const nick = Buffer.from(hello.nick, 'utf8');
  if (nick.length > MAX_NICK_BYTES) throw new RangeError('nick too long');
  const out = Buffer.alloc(1 + 32 + 64 + RESET_TOKEN_LENGTH + 1 + nick.length + 1);
  out[0] = HELLO_VERSION;
  out.set(hello.identity, 1);
  out.set(hello.signature, 33);
  out.set(hello.resetToken, 97);
  out[113] = nick.length;
  out.set(nick, 114);
  out[114 + nick.length] = hello.flags ?? 0;
  return out;
}

export function decodeHello(payload: Uint8Array): Hello {
  const r = new Reader(payload);
  const version = r.u8('hello version');
  if (version !== HELLO_VERSION)
    throw new BadPacket('handshake', `unknown hello version ${version}`);
  const identity = Buffer.from(r.bytes(32, 'identity key'));
  const signature = Buffer.from(r.bytes(64, 'identity signature'));
  const resetToken = Buffer.from(r.bytes(RESET_TOKEN_LENGTH, 'reset token'));
  const nickLength = r.u8('nick length');
  if (nickLength > MAX_NICK_BYTES) throw new BadPacket('handshake', 'nick too long');
  const nickBytes = r.bytes(nickLength, 'nick');
  let nick: string;
  try {
    nick = strictUtf8.decode(nickBytes);
  } catch {
    throw new BadPacket('handshake', 'nick is not valid UTF-8');
  }
  const flags = r.remaining > 0 ? r.u8('flags') : 0;
  return { identity, signature, resetToken, nick, flags };
}

/**
 * Generic Noise handshake (Noise Protocol Framework, revision 34) for the
 * 15 fundamental patterns of §7.4 and §7.5, with DH = 25519, HASH = SHA256
 * and CIPHER = ChaChaPoly or AESGCM (§12).
 *
 * Objects map onto the spec's: CipherState (§5.1) is a PacketKey plus the
 * counter `n`; SymmetricState (§5.2) is `h`, `ck` and that CipherState;
 * HandshakeState (§5.3) is the class below.
 *
 * readMessage() handles hostile bytes, so it is transactional: all state it
 * touches is snapshotted first and restored on failure, and every failure
 * surfaces as BadPacket('handshake'). A forged datagram therefore cannot wedge
 * or desynchronise a handshake in progress.
 */
import { createHash, createHmac } from 'node:crypto';
import sodium from 'sodium-native';
import { BadPacket, UsageError } from '../core/errors.js';
import {
  type CipherName,
  createPacketKey,
  KEY_LENGTH,
  type PacketKey,
  TAG_LENGTH,
} from './cipher.js';

export type NoisePattern =
  | 'NN'
  | 'NK'
  | 'NX'
  | 'XN'
  | 'XK'
  | 'XX'
  | 'KN'
  | 'KK'
  | 'KX'
  | 'IN'
  | 'IK'
  | 'IX'
  | 'N'
  | 'K'
  | 'X';

/** An X25519 key pair, 32 bytes each. */
export interface DhKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export interface HandshakeOptions {
  pattern: NoisePattern;
  initiator: boolean;
  cipher: CipherName;
  prologue: Uint8Array;
  s?: DhKeyPair;
  /** Fixed ephemeral, for test vectors only. */
  e?: DhKeyPair;
  rs?: Uint8Array;
  re?: Uint8Array;
}

const DHLEN = 32; // §12.1
const HASHLEN = 32; // §12.5
/** §3: every Noise message, handshake or transport, is at most 65535 bytes. */
const MAX_MESSAGE = 65535;

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

interface PatternSpec {
  /** Whether each side's static key is a pre-message (the only pre-message key in §7.4/§7.5). */
  preInitiatorS: boolean;
  preResponderS: boolean;
  /** Message i is sent by the initiator when i is even (§7.1: patterns start with "->" and alternate). */
  messages: Token[][];
}

/**
 * The patterns written as in §7.4 (one-way) and §7.5 (interactive), lines
 * separated by "|" and "..." ending the pre-messages, parsed once at load.
 */
const PATTERN_TEXT: Record<NoisePattern, string> = {
  N: '<- s | ... | -> e, es',
  K: '-> s | <- s | ... | -> e, es, ss',
  X: '<- s | ... | -> e, es, s, ss',
  NN: '-> e | <- e, ee',
  NK: '<- s | ... | -> e, es | <- e, ee',
  NX: '-> e | <- e, ee, s, es',
  XN: '-> e | <- e, ee | -> s, se',
  XK: '<- s | ... | -> e, es | <- e, ee | -> s, se',
  XX: '-> e | <- e, ee, s, es | -> s, se',
  KN: '-> s | ... | -> e | <- e, ee, se',
  KK: '-> s | <- s | ... | -> e, es, ss | <- e, ee, se',
  KX: '-> s | ... | -> e | <- e, ee, se, s, es',
  IN: '-> e, s | <- e, ee, se',
  IK: '<- s | ... | -> e, es, s, ss | <- e, ee, se',
  IX: '-> e, s | <- e, ee, se, s, es',
};

function parsePattern(text: string): PatternSpec {
  const lines = text.split('|').map((line) => line.trim());
  const dots = lines.indexOf('...');
  const spec: PatternSpec = { preInitiatorS: false, preResponderS: false, messages: [] };
  for (const line of dots < 0 ? [] : lines.slice(0, dots)) {
    if (line === '-> s') spec.preInitiatorS = true;
    else if (line === '<- s') spec.preResponderS = true;
    else throw new Error(`bad pre-message ${line}`);
  }
  for (const [i, line] of lines.slice(dots + 1).entries()) {
    const arrow = i % 2 === 0 ? '-> ' : '<- ';
    if (!line.startsWith(arrow)) throw new Error(`bad message line ${line}`);
    spec.messages.push(line.slice(3).split(', ') as Token[]);
  }
  return spec;
}

const PATTERNS = new Map(
  (Object.entries(PATTERN_TEXT) as [NoisePattern, string][]).map(([name, text]) => [
    name,
    parsePattern(text),
  ]),
);

/** §8: the protocol name; the cipher names are those of §12.3 and §12.4. */
export function protocolName(pattern: NoisePattern, cipher: CipherName): string {
  const c = cipher === 'aes-256-gcm' ? 'AESGCM' : 'ChaChaPoly';
  return `Noise_${pattern}_25519_${c}_SHA256`;
}

export function generateDhKeyPair(): DhKeyPair {
  const publicKey = Buffer.alloc(DHLEN);
  const secretKey = Buffer.alloc(DHLEN);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function dhKeyPairFromSecret(secret: Uint8Array): DhKeyPair {
  if (secret.length !== DHLEN) throw new UsageError(`X25519 secret key must be ${DHLEN} bytes`);
  const secretKey = Buffer.from(secret);
  const publicKey = Buffer.alloc(DHLEN);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}

/**
 * Encodings of the small-order X25519 points: 0, 1, the two points of order
 * 8, and the non-canonical p-1, p, p+1 (bit 255 is ignored, RFC 7748 §5). DH
 * with any of them yields all zeros, an attacker-known result. §12.1
 * allows signalling an error for such inputs instead of returning zeros; we
 * do (libsodium already does), and screening keys as they are read makes
 * readMessage, not a later writeMessage, the call that fails.
 */
const P = 2n ** 255n - 19n;
const LOW_ORDER = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
  P,
  P + 1n,
].map((n) => {
  const bytes = Buffer.alloc(DHLEN);
  for (let i = 0; i < DHLEN; i++) bytes[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return bytes;
});

export function isLowOrderPoint(publicKey: Uint8Array): boolean {
  return LOW_ORDER.some((bad) => {
    let diff = (publicKey[DHLEN - 1]! & 0x7f) ^ bad[DHLEN - 1]!;
    for (let i = 0; i < DHLEN - 1; i++) diff |= publicKey[i]! ^ bad[i]!;
    return diff === 0;
  });
}

/**
 * §4.1/§12.1 DH() as X25519, taking §12.1's option to signal an error rather
 * than return all zeros. Thanks to read-time screening this only throws for
 * keys that bypassed readMessage, and then still blames the peer.
 */
function dh(local: DhKeyPair, remote: Buffer): Buffer {
  const out = Buffer.alloc(DHLEN);
  try {
    // libsodium itself refuses small-order inputs and all-zero outputs by throwing.
    sodium.crypto_scalarmult(out, local.secretKey, remote);
  } catch {
    throw new BadPacket('handshake', 'peer sent a low-order X25519 key');
  }
  if (sodium.sodium_is_zero(out, DHLEN)) {
    throw new BadPacket('handshake', 'X25519 result is all zeros (low-order key)');
  }
  return out;
}

function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const m = createHmac('sha256', key);
  for (const part of parts) m.update(part);
  return m.digest();
}

/** §4.3 HKDF with two outputs (the only count the fundamental patterns need). */
function hkdf2(chainingKey: Buffer, ikm: Uint8Array): [Buffer, Buffer] {
  const tempKey = hmac(chainingKey, ikm);
  const out1 = hmac(tempKey, ONE);
  const out2 = hmac(tempKey, out1, TWO);
  return [out1, out2];
}
const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const EMPTY = new Uint8Array(0);

/** Everything readMessage/writeMessage may change, for rollback on failure. */
interface Snapshot {
  h: Buffer;
  ck: Buffer;
  k: PacketKey | undefined;
  n: number;
  e: DhKeyPair | undefined;
  rs: Buffer | undefined;
  re: Buffer | undefined;
  next: number;
}

function checkKeyPair(pair: DhKeyPair, name: string): DhKeyPair {
  if (pair.publicKey.length !== DHLEN || pair.secretKey.length !== DHLEN) {
    throw new UsageError(`${name} must be an X25519 key pair of ${DHLEN}-byte keys`);
  }
  return { publicKey: Buffer.from(pair.publicKey), secretKey: Buffer.from(pair.secretKey) };
}

export class HandshakeState {
  readonly #spec: PatternSpec;
  readonly #initiator: boolean;
  readonly #cipher: CipherName;
  readonly #s: DhKeyPair | undefined;
  #e: DhKeyPair | undefined;
  #rs: Buffer | undefined;
  #re: Buffer | undefined;
  // SymmetricState (§5.2) and its CipherState (§5.1).
  #h: Buffer;
  #ck: Buffer;
  #k: PacketKey | undefined;
  #n = 0;
  /** Index of the next message pattern to process. */
  #next = 0;

  /** §5.3 Initialize(). */
  constructor(opts: HandshakeOptions) {
    const spec = PATTERNS.get(opts.pattern);
    if (!spec) throw new UsageError(`unknown Noise pattern ${String(opts.pattern)}`);
    if (opts.cipher !== 'chacha20-poly1305' && opts.cipher !== 'aes-256-gcm') {
      throw new UsageError(`unknown cipher ${String(opts.cipher)}`);
    }
    this.#spec = spec;
    this.#initiator = opts.initiator;
    this.#cipher = opts.cipher;

    const ourPre = opts.initiator ? spec.preInitiatorS : spec.preResponderS;
    const theirPre = opts.initiator ? spec.preResponderS : spec.preInitiatorS;
    const ourDh = opts.initiator ? 'se' : 'es';
    const needS =
      ourPre ||
      spec.messages.some(
        (tokens, i) =>
          tokens.includes('ss') ||
          tokens.includes(ourDh) ||
          (this.#sentByUs(i) && tokens.includes('s')),
      );
    if (needS && !opts.s) {
      throw new UsageError(`Noise ${opts.pattern} needs our static key pair (s)`);
    }
    this.#s = opts.s ? checkKeyPair(opts.s, 's') : undefined;
    this.#e = opts.e ? checkKeyPair(opts.e, 'e') : undefined;
    if (theirPre && !opts.rs) {
      throw new UsageError(`Noise ${opts.pattern} needs the peer's static public key (rs)`);
    }
    if (!theirPre && opts.rs) {
      // Refused rather than ignored: a caller passing rs here probably expects it to be pinned.
      throw new UsageError(
        `Noise ${opts.pattern} learns rs in the handshake; compare remoteStatic instead`,
      );
    }
    if (opts.re) throw new UsageError('no supported pattern has an ephemeral pre-message (re)');
    if (opts.rs && opts.rs.length !== DHLEN) throw new UsageError(`rs must be ${DHLEN} bytes`);
    this.#rs = opts.rs ? Buffer.from(opts.rs) : undefined;

    // §5.2 InitializeSymmetric(): h = name padded to HASHLEN, or HASH(name) if longer.
    const name = Buffer.from(protocolName(opts.pattern, opts.cipher), 'ascii');
    if (name.length <= HASHLEN) {
      this.#h = Buffer.alloc(HASHLEN);
      name.copy(this.#h);
    } else {
      this.#h = hash(name);
    }
    this.#ck = Buffer.from(this.#h);
    this.#mixHash(opts.prologue);
    // §7.1: pre-message keys are hashed initiator's first, then responder's.
    if (spec.preInitiatorS) this.#mixHash(opts.initiator ? this.#s!.publicKey : this.#rs!);
    if (spec.preResponderS) this.#mixHash(opts.initiator ? this.#rs! : this.#s!.publicKey);
  }

  get isComplete(): boolean {
    return this.#next >= this.#spec.messages.length;
  }

  get handshakeHash(): Buffer {
    return Buffer.from(this.#h);
  }

  get remoteStatic(): Buffer | undefined {
    return this.#rs ? Buffer.from(this.#rs) : undefined;
  }

  get remoteEphemeral(): Buffer | undefined {
    return this.#re ? Buffer.from(this.#re) : undefined;
  }

  /** §5.2 Split(): k1 carries initiator→responder traffic, k2 the reverse. */
  split(): { sendKey: Buffer; recvKey: Buffer } {
    if (!this.isComplete) throw new UsageError('handshake is not complete');
    const [k1, k2] = hkdf2(this.#ck, EMPTY);
    return this.#initiator ? { sendKey: k1, recvKey: k2 } : { sendKey: k2, recvKey: k1 };
  }

  /** §5.3 WriteMessage(). */
  writeMessage(payload: Uint8Array): Buffer {
    if (this.isComplete) throw new UsageError('handshake already complete');
    if (!this.#sentByUs(this.#next))
      throw new UsageError('not our turn to write a handshake message');
    const saved = this.#save();
    try {
      const parts: Uint8Array[] = [];
      for (const token of this.#spec.messages[this.#next]!) {
        if (token === 'e') {
          // Fixed ephemerals exist for the test vectors; otherwise GENERATE_KEYPAIR().
          this.#e ??= generateDhKeyPair();
          parts.push(this.#e.publicKey);
          this.#mixHash(this.#e.publicKey);
        } else if (token === 's') {
          parts.push(this.#encryptAndHash(this.#s!.publicKey));
        } else {
          this.#mixDh(token);
        }
      }
      parts.push(this.#encryptAndHash(payload));
      const message = Buffer.concat(parts);
      if (message.length > MAX_MESSAGE) {
        throw new UsageError(
          `handshake message would be ${message.length} bytes (max ${MAX_MESSAGE})`,
        );
      }
      this.#next++;
      return message;
    } catch (err) {
      this.#restore(saved);
      throw err;
    }
  }

  /** §5.3 ReadMessage(). Hostile input: any failure is BadPacket('handshake') and changes nothing. */
  readMessage(message: Uint8Array): Buffer {
    if (this.isComplete) throw new BadPacket('handshake', 'handshake already complete');
    if (this.#sentByUs(this.#next)) {
      throw new BadPacket('handshake', 'handshake message arrived out of turn');
    }
    if (message.length > MAX_MESSAGE)
      throw new BadPacket('handshake', 'handshake message too long');
    const saved = this.#save();
    try {
      let at = 0;
      const take = (len: number): Buffer => {
        if (message.length - at < len)
          throw new BadPacket('handshake', 'handshake message truncated');
        // Copy: keys we keep must not alias the caller's (reusable) receive buffer.
        const out = Buffer.from(message.subarray(at, at + len));
        at += len;
        return out;
      };
      for (const token of this.#spec.messages[this.#next]!) {
        if (token === 'e') {
          const re = take(DHLEN);
          rejectLowOrder(re);
          this.#re = re;
          this.#mixHash(re);
        } else if (token === 's') {
          const rs = this.#decryptAndHash(take(this.#k ? DHLEN + TAG_LENGTH : DHLEN));
          rejectLowOrder(rs);
          this.#rs = rs;
        } else {
          this.#mixDh(token);
        }
      }
      const payload = this.#decryptAndHash(take(message.length - at));
      this.#next++;
      return payload;
    } catch (err) {
      this.#restore(saved);
      if (err instanceof BadPacket) throw err;
      throw new BadPacket('handshake', 'invalid handshake message');
    }
  }

  #sentByUs(index: number): boolean {
    return (index % 2 === 0) === this.#initiator;
  }

  /** The DH tokens of §5.3; "es"/"se" name initiator-then-responder keys. */
  #mixDh(token: 'ee' | 'es' | 'se' | 'ss'): void {
    const initiator = this.#initiator;
    const missing = (): never => {
      throw new UsageError(`key missing for ${token}`);
    };
    const e = () => this.#e ?? missing();
    const s = () => this.#s ?? missing();
    const re = () => this.#re ?? missing();
    const rs = () => this.#rs ?? missing();
    if (token === 'ee') this.#mixKey(dh(e(), re()));
    else if (token === 'es') this.#mixKey(initiator ? dh(e(), rs()) : dh(s(), re()));
    else if (token === 'se') this.#mixKey(initiator ? dh(s(), re()) : dh(e(), rs()));
    else this.#mixKey(dh(s(), rs()));
  }

  /** §5.2 MixKey(): new ck and a fresh CipherState key with n = 0. */
  #mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf2(this.#ck, ikm);
    this.#ck = ck;
    this.#k = createPacketKey(this.#cipher, tempK.subarray(0, KEY_LENGTH));
    this.#n = 0;
  }

  /** §5.2 MixHash(). Always assigns a new buffer, which is what makes #save() cheap. */
  #mixHash(data: Uint8Array): void {
    this.#h = hash(this.#h, data);
  }

  /** §5.2 EncryptAndHash(): plaintext passes through while there is no key yet (§5.1). */
  #encryptAndHash(plaintext: Uint8Array): Buffer {
    let out: Buffer;
    if (this.#k) {
      out = Buffer.alloc(plaintext.length + TAG_LENGTH);
      this.#k.seal(this.#n, this.#h, plaintext, out);
      this.#n++;
    } else {
      out = Buffer.from(plaintext);
    }
    this.#mixHash(out);
    return out;
  }

  /** §5.2 DecryptAndHash(); the AD is h before the ciphertext is mixed in. */
  #decryptAndHash(ciphertext: Buffer): Buffer {
    let out: Buffer;
    if (this.#k) {
      if (ciphertext.length < TAG_LENGTH) {
        throw new BadPacket('handshake', 'handshake message truncated');
      }
      out = Buffer.alloc(ciphertext.length - TAG_LENGTH);
      if (!this.#k.open(this.#n, this.#h, ciphertext, out)) {
        throw new BadPacket('handshake', 'handshake message failed authentication');
      }
      this.#n++;
    } else {
      out = Buffer.from(ciphertext);
    }
    this.#mixHash(ciphertext);
    return out;
  }

  #save(): Snapshot {
    return {
      h: this.#h,
      ck: this.#ck,
      k: this.#k,
      n: this.#n,
      e: this.#e,
      rs: this.#rs,
      re: this.#re,
      next: this.#next,
    };
  }

  #restore(s: Snapshot): void {
    this.#h = s.h;
    this.#ck = s.ck;
    this.#k = s.k;
    this.#n = s.n;
    this.#e = s.e;
    this.#rs = s.rs;
    this.#re = s.re;
    this.#next = s.next;
  }
}

function rejectLowOrder(publicKey: Buffer): void {
  if (isLowOrderPoint(publicKey)) {
    throw new BadPacket('handshake', 'peer sent a low-order X25519 key');
  }
}

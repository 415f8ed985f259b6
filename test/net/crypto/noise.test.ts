import { readFileSync } from 'node:fs';
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import { type CipherName, createPacketKey } from '../../../source/net/crypto/cipher.js';
import {
  dhKeyPairFromSecret,
  generateDhKeyPair,
  HandshakeState,
  isLowOrderPoint,
  type NoisePattern,
  protocolName,
} from '../../../source/net/crypto/noise.js';
import { expectBadPacket } from '../../support/badpacket.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static?: string;
  /** Absent for one-way patterns: the responder never sends. */
  resp_ephemeral?: string;
  resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/noise-vectors.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ONE_WAY = new Set(['N', 'K', 'X']);
const PATTERNS: NoisePattern[] = [
  'NN',
  'NK',
  'NX',
  'XN',
  'XK',
  'XX',
  'KN',
  'KK',
  'KX',
  'IN',
  'IK',
  'IX',
  'N',
  'K',
  'X',
];
const CIPHERS: CipherName[] = ['chacha20-poly1305', 'aes-256-gcm'];

function parseName(name: string): { pattern: NoisePattern; cipher: CipherName } {
  const m = /^Noise_([A-Z]+)_25519_(ChaChaPoly|AESGCM)_SHA256$/.exec(name);
  if (!m) throw new Error(`unexpected protocol ${name}`);
  return {
    pattern: m[1] as NoisePattern,
    cipher: m[2] === 'AESGCM' ? 'aes-256-gcm' : 'chacha20-poly1305',
  };
}

/** Which side each pattern needs static keys / remote statics for, from generated keys. */
function pair(pattern: NoisePattern, cipher: CipherName, prologue = Buffer.from('p')) {
  const is = generateDhKeyPair();
  const rsKey = generateDhKeyPair();
  const initPre = ['KN', 'KK', 'KX', 'K'].includes(pattern);
  const respPre = ['NK', 'XK', 'KK', 'IK', 'N', 'K', 'X'].includes(pattern);
  const init = new HandshakeState({
    pattern,
    initiator: true,
    cipher,
    prologue,
    s: pattern.startsWith('N') ? undefined : is,
    rs: respPre ? rsKey.publicKey : undefined,
  });
  const resp = new HandshakeState({
    pattern,
    initiator: false,
    cipher,
    prologue,
    s: pattern.length === 2 && pattern.endsWith('N') ? undefined : rsKey,
    rs: initPre ? is.publicKey : undefined,
  });
  return { init, resp, is, rsKey };
}

function run(init: HandshakeState, resp: HandshakeState): void {
  let from = init;
  let to = resp;
  while (!init.isComplete || !resp.isComplete) {
    to.readMessage(from.writeMessage(Buffer.from('hello')));
    [from, to] = [to, from];
  }
}

describe('Noise cacophony vectors', () => {
  it('covers every pattern with both suites', () => {
    const names = new Set(fixture.vectors.map((v) => v.protocol_name));
    for (const p of PATTERNS) for (const c of CIPHERS) expect(names).toContain(protocolName(p, c));
  });

  for (const v of fixture.vectors) {
    it(v.protocol_name, () => {
      const { pattern, cipher } = parseName(v.protocol_name);
      expect(protocolName(pattern, cipher)).toBe(v.protocol_name);
      const side = (initiator: boolean) => {
        const pre = initiator ? 'init' : 'resp';
        const s = v[`${pre}_static` as const];
        const rs = v[`${pre}_remote_static` as const];
        const e = v[`${pre}_ephemeral` as const];
        return new HandshakeState({
          pattern,
          initiator,
          cipher,
          prologue: hex(v[`${pre}_prologue` as const]),
          s: s ? dhKeyPairFromSecret(hex(s)) : undefined,
          e: e ? dhKeyPairFromSecret(hex(e)) : undefined,
          rs: rs ? hex(rs) : undefined,
        });
      };
      const init = side(true);
      const resp = side(false);

      let i = 0;
      for (; !init.isComplete; i++) {
        const msg = v.messages[i]!;
        const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
        const ct = w.writeMessage(hex(msg.payload));
        expect(ct.toString('hex')).toBe(msg.ciphertext);
        expect(r.readMessage(ct).toString('hex')).toBe(msg.payload);
      }
      expect(resp.isComplete).toBe(true);
      expect(init.handshakeHash.toString('hex')).toBe(v.handshake_hash);
      expect(resp.handshakeHash.toString('hex')).toBe(v.handshake_hash);

      const ik = init.split();
      const rk = resp.split();
      expect(ik.sendKey).toEqual(rk.recvKey);
      expect(ik.recvKey).toEqual(rk.sendKey);
      const initSend = createPacketKey(cipher, ik.sendKey);
      const initRecv = createPacketKey(cipher, ik.recvKey);
      const respSend = createPacketKey(cipher, rk.sendKey);
      const respRecv = createPacketKey(cipher, rk.recvKey);
      let toResp = 0;
      let toInit = 0;
      const empty = new Uint8Array(0);
      expect(v.messages.length).toBeGreaterThan(i);
      for (; i < v.messages.length; i++) {
        const msg = v.messages[i]!;
        const fromInit = ONE_WAY.has(pattern) || i % 2 === 0;
        const [send, recv] = fromInit ? [initSend, respRecv] : [respSend, initRecv];
        const nonce = fromInit ? toResp++ : toInit++;
        const pt = hex(msg.payload);
        const ct = Buffer.alloc(pt.length + 16);
        send.seal(nonce, empty, pt, ct);
        expect(ct.toString('hex')).toBe(msg.ciphertext);
        const back = Buffer.alloc(pt.length);
        expect(recv.open(nonce, empty, ct, back)).toBe(true);
        expect(back).toEqual(pt);
      }
    });
  }
});

describe('HandshakeState with generated keys', () => {
  for (const pattern of PATTERNS) {
    for (const cipher of CIPHERS) {
      it(`${pattern} ${cipher} completes and agrees`, () => {
        const { init, resp, is, rsKey } = pair(pattern, cipher);
        run(init, resp);
        expect(init.handshakeHash).toEqual(resp.handshakeHash);
        expect(init.split().sendKey).toEqual(resp.split().recvKey);
        expect(init.split().recvKey).toEqual(resp.split().sendKey);
        if (!pattern.startsWith('N')) expect(resp.remoteStatic).toEqual(is.publicKey);
        if (!(pattern.length === 2 && pattern.endsWith('N'))) {
          expect(init.remoteStatic).toEqual(rsKey.publicKey);
        }
        expect(resp.remoteEphemeral).toBeDefined();
        if (!ONE_WAY.has(pattern)) expect(init.remoteEphemeral).toBeDefined();
      });
    }
  }
});

function xxPair(opts: { cipherB?: CipherName; prologueB?: string } = {}) {
  const init = new HandshakeState({
    pattern: 'XX',
    initiator: true,
    cipher: 'chacha20-poly1305',
    prologue: Buffer.from('srmudp'),
    s: generateDhKeyPair(),
  });
  const resp = new HandshakeState({
    pattern: 'XX',
    initiator: false,
    cipher: opts.cipherB ?? 'chacha20-poly1305',
    prologue: Buffer.from(opts.prologueB ?? 'srmudp'),
    s: generateDhKeyPair(),
  });
  return { init, resp };
}

/** Every malformed handshake message is the network's fault: BadPacket('handshake'). */
const expectHandshakeError = (fn: () => unknown) => expectBadPacket(fn, 'handshake');

describe('HandshakeState rejects bad input', () => {
  it('rejects every single-byte flip of XX message 2 and still accepts the real one', () => {
    const { init, resp } = xxPair();
    resp.readMessage(init.writeMessage(Buffer.from('one')));
    const msg2 = resp.writeMessage(Buffer.from('two'));
    const hashBefore = init.handshakeHash;
    for (let i = 0; i < msg2.length; i++) {
      const bad = Buffer.from(msg2);
      bad[i]! ^= 0x01;
      expectHandshakeError(() => init.readMessage(bad));
      const bad2 = Buffer.from(msg2);
      bad2[i]! ^= 0x80;
      expectHandshakeError(() => init.readMessage(bad2));
    }
    // Failed reads roll back completely.
    expect(init.handshakeHash).toEqual(hashBefore);
    expect(init.remoteStatic).toBeUndefined();
    expect(init.readMessage(msg2).toString()).toBe('two');
    resp.readMessage(init.writeMessage(Buffer.from('three')));
    expect(init.split().sendKey).toEqual(resp.split().recvKey);
  });

  it('rejects truncated messages', () => {
    const { init, resp } = xxPair();
    const msg1 = init.writeMessage(new Uint8Array(0));
    for (const len of [0, 1, 31])
      expectHandshakeError(() => resp.readMessage(msg1.subarray(0, len)));
    resp.readMessage(msg1);
    const msg2 = resp.writeMessage(Buffer.from('payload'));
    for (const len of [0, 31, 32, 47, 64, 79, 80, msg2.length - 1]) {
      expectHandshakeError(() => init.readMessage(msg2.subarray(0, len)));
    }
    expect(init.readMessage(msg2).toString()).toBe('payload');
  });

  it('enforces turn order', () => {
    const { init, resp } = xxPair();
    expect(() => resp.writeMessage(new Uint8Array(0))).toThrow(UsageError);
    expectHandshakeError(() => init.readMessage(Buffer.alloc(32, 9)));
    const msg1 = init.writeMessage(new Uint8Array(0));
    expect(() => init.writeMessage(new Uint8Array(0))).toThrow(UsageError);
    resp.readMessage(msg1);
    expectHandshakeError(() => resp.readMessage(msg1));
    init.readMessage(resp.writeMessage(new Uint8Array(0)));
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
    expect(init.isComplete && resp.isComplete).toBe(true);
    expect(() => init.writeMessage(new Uint8Array(0))).toThrow(UsageError);
    expectHandshakeError(() => resp.readMessage(Buffer.alloc(64)));
  });

  it('fails at the first encrypted payload on a prologue mismatch', () => {
    const { init, resp } = xxPair({ prologueB: 'other' });
    resp.readMessage(init.writeMessage(Buffer.from('clear'))); // no key yet: not detectable
    expectHandshakeError(() => init.readMessage(resp.writeMessage(Buffer.from('x'))));
  });

  it('fails at the first encrypted payload on a cipher mismatch', () => {
    const { init, resp } = xxPair({ cipherB: 'aes-256-gcm' });
    resp.readMessage(init.writeMessage(Buffer.from('clear')));
    expectHandshakeError(() => init.readMessage(resp.writeMessage(Buffer.from('x'))));
  });

  it('rejects low-order ephemeral keys', () => {
    const p = 2n ** 255n - 19n;
    const le = (n: bigint) => {
      const b = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) b[i] = Number((n >> BigInt(8 * i)) & 0xffn);
      return b;
    };
    const points = [
      0n,
      1n,
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
      p - 1n,
      p,
      p + 1n,
    ].map(le);
    for (const point of points) {
      for (const key of [point, Buffer.from(point).fill(point[31]! | 0x80, 31)]) {
        expect(isLowOrderPoint(key)).toBe(true);
        // libsodium agrees these are unusable.
        expect(() =>
          sodium.crypto_scalarmult(Buffer.alloc(32), generateDhKeyPair().secretKey, key),
        ).toThrow();
        const resp = new HandshakeState({
          pattern: 'NN',
          initiator: false,
          cipher: 'chacha20-poly1305',
          prologue: new Uint8Array(0),
        });
        expectHandshakeError(() => resp.readMessage(key));
      }
    }
    expect(isLowOrderPoint(generateDhKeyPair().publicKey)).toBe(false);
  });

  it('checks required keys at construction', () => {
    const base = { cipher: 'chacha20-poly1305' as const, prologue: new Uint8Array(0) };
    expect(() => new HandshakeState({ ...base, pattern: 'XX', initiator: true })).toThrow(
      UsageError,
    );
    expect(() => new HandshakeState({ ...base, pattern: 'NK', initiator: true })).toThrow(
      UsageError,
    );
    expect(() => new HandshakeState({ ...base, pattern: 'NK', initiator: false })).toThrow(
      UsageError,
    );
    expect(
      () =>
        new HandshakeState({
          ...base,
          pattern: 'XX',
          initiator: true,
          s: generateDhKeyPair(),
          rs: generateDhKeyPair().publicKey,
        }),
    ).toThrow(UsageError);
    expect(() => new HandshakeState({ ...base, pattern: 'NN', initiator: true }).split()).toThrow(
      UsageError,
    );
  });
});

/**
 * What HandshakeState demands of its caller and says when it is wrong
 * (Noise rev 34 §5.3 Initialize, §7.4/§7.5 patterns), and the hostile-input
 * checks a forged message cannot reach through a well-formed handshake:
 * over-long messages, low-order keys the caller supplied, a failed write
 * that must leave the handshake usable. Found by mutation testing
 * (test/mutation-survivors.md).
 */
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  dhKeyPairFromSecret,
  generateDhKeyPair,
  HandshakeState,
  type NoisePattern,
} from '../../../source/net/crypto/noise.js';
import { expectBadPacket } from '../../support/badpacket.js';

const ONE_WAY: NoisePattern[] = ['N', 'K', 'X'];
const INTERACTIVE: NoisePattern[] = [
  ...(['NN', 'NK', 'NX', 'XN', 'XK', 'XX', 'KN', 'KK', 'KX', 'IN', 'IK', 'IX'] as const),
];
const base = { cipher: 'chacha20-poly1305' as const, prologue: new Uint8Array(0) };

/** From the pattern's name alone (§7.4, §7.5): does this side have a static key? */
function needsOwnStatic(pattern: NoisePattern, initiator: boolean): boolean {
  if (pattern.length === 1) return initiator ? pattern !== 'N' : true;
  return pattern[initiator ? 0 : 1] !== 'N';
}
/** Is the peer's static key known before the handshake (K, or one-way's responder)? */
function knowsPeerStatic(pattern: NoisePattern, initiator: boolean): boolean {
  if (pattern.length === 1) return initiator ? true : pattern === 'K';
  return pattern[initiator ? 1 : 0] === 'K';
}

describe('HandshakeState construction (§5.3 Initialize)', () => {
  it.each(
    [...ONE_WAY, ...INTERACTIVE].flatMap((p) => [
      [p, true],
      [p, false],
    ]) as [NoisePattern, boolean][],
  )(
    '%s initiator=%s: needs s exactly when the pattern gives this side one',
    (pattern, initiator) => {
      const rs = knowsPeerStatic(pattern, initiator) ? generateDhKeyPair().publicKey : undefined;
      const build = (s?: ReturnType<typeof generateDhKeyPair>) =>
        new HandshakeState({ ...base, pattern, initiator, s, rs });
      if (needsOwnStatic(pattern, initiator)) {
        expect(() => build()).toThrow(`Noise ${pattern} needs our static key pair (s)`);
      } else {
        expect(build().isComplete).toBe(false);
      }
      expect(build(generateDhKeyPair()).isComplete).toBe(false);
      if (rs !== undefined) {
        expect(
          () => new HandshakeState({ ...base, pattern, initiator, s: generateDhKeyPair() }),
        ).toThrow(`Noise ${pattern} needs the peer's static public key (rs)`);
      } else {
        expect(
          () =>
            new HandshakeState({
              ...base,
              pattern,
              initiator,
              s: generateDhKeyPair(),
              rs: generateDhKeyPair().publicKey,
            }),
        ).toThrow(`Noise ${pattern} learns rs in the handshake; compare remoteStatic instead`);
      }
    },
  );

  it('refuses unknown patterns and ciphers, malformed keys and an ephemeral pre-message', () => {
    expect(
      () => new HandshakeState({ ...base, pattern: 'ZZ' as NoisePattern, initiator: true }),
    ).toThrow('unknown Noise pattern ZZ');
    expect(
      () =>
        new HandshakeState({
          ...base,
          cipher: 'rot13' as 'aes-256-gcm',
          pattern: 'NN',
          initiator: true,
        }),
    ).toThrow('unknown cipher rot13');
    const s = generateDhKeyPair();
    for (const bad of [
      { publicKey: s.publicKey.subarray(0, 31), secretKey: s.secretKey },
      { publicKey: s.publicKey, secretKey: s.secretKey.subarray(0, 31) },
    ]) {
      expect(() => new HandshakeState({ ...base, pattern: 'XX', initiator: true, s: bad })).toThrow(
        's must be an X25519 key pair of 32-byte keys',
      );
      expect(() => new HandshakeState({ ...base, pattern: 'NN', initiator: true, e: bad })).toThrow(
        'e must be an X25519 key pair of 32-byte keys',
      );
    }
    expect(
      () =>
        new HandshakeState({
          ...base,
          pattern: 'NK',
          initiator: true,
          rs: s.publicKey.subarray(0, 31),
        }),
    ).toThrow('rs must be 32 bytes');
    expect(
      () => new HandshakeState({ ...base, pattern: 'NN', initiator: true, re: s.publicKey }),
    ).toThrow('no supported pattern has an ephemeral pre-message (re)');
    expect(() => dhKeyPairFromSecret(new Uint8Array(31))).toThrow(
      'X25519 secret key must be 32 bytes',
    );
  });

  it('says why a write or a split is refused', () => {
    const init = new HandshakeState({ ...base, pattern: 'NN', initiator: true });
    const resp = new HandshakeState({ ...base, pattern: 'NN', initiator: false });
    expect(() => init.split()).toThrow('handshake is not complete');
    expect(() => resp.writeMessage(new Uint8Array(0))).toThrow(
      'not our turn to write a handshake message',
    );
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
    init.readMessage(resp.writeMessage(new Uint8Array(0)));
    expect(() => init.writeMessage(new Uint8Array(0))).toThrow('handshake already complete');
  });
});

describe('HandshakeState against oversized and low-order input', () => {
  it('refuses to write a message over 65535 bytes and stays usable (§3)', () => {
    const init = new HandshakeState({ ...base, pattern: 'NN', initiator: true });
    const resp = new HandshakeState({ ...base, pattern: 'NN', initiator: false });
    // Message 1 of NN is e (32 bytes) plus the payload in clear.
    expect(() => init.writeMessage(new Uint8Array(65535 - 32 + 1))).toThrow(
      'handshake message would be 65536 bytes (max 65535)',
    );
    // The failed write changed nothing: the largest legal message goes through.
    const msg1 = init.writeMessage(new Uint8Array(65535 - 32));
    expect(msg1.length).toBe(65535);
    expect(resp.readMessage(msg1).length).toBe(65535 - 32);
    init.readMessage(resp.writeMessage(Buffer.from('ok')));
    expect(init.split().sendKey).toEqual(resp.split().recvKey);
  });

  it('drops a received message over 65535 bytes as a bad handshake, and reads the next', () => {
    const init = new HandshakeState({ ...base, pattern: 'NN', initiator: true });
    const resp = new HandshakeState({ ...base, pattern: 'NN', initiator: false });
    const err = expectBadPacket(() => resp.readMessage(new Uint8Array(65536)), 'handshake');
    expect(err.message).toBe('handshake message too long');
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
  });

  it('names what was wrong with a bad message', () => {
    const init = new HandshakeState({ ...base, pattern: 'NN', initiator: true });
    const resp = new HandshakeState({ ...base, pattern: 'NN', initiator: false });
    expect(expectBadPacket(() => init.readMessage(new Uint8Array(32))).message).toBe(
      'handshake message arrived out of turn',
    );
    expect(expectBadPacket(() => resp.readMessage(new Uint8Array(31))).message).toBe(
      'handshake message truncated',
    );
    expect(expectBadPacket(() => resp.readMessage(new Uint8Array(32))).message).toBe(
      'peer sent a low-order X25519 key',
    );
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
    const msg2 = resp.writeMessage(Buffer.from('x'));
    // e (32) then an encrypted payload: less than a tag after e is truncated.
    expect(expectBadPacket(() => init.readMessage(msg2.subarray(0, 32 + 15))).message).toBe(
      'handshake message truncated',
    );
    const forged = Buffer.from(msg2);
    forged[forged.length - 1]! ^= 1;
    expect(expectBadPacket(() => init.readMessage(forged)).message).toBe(
      'handshake message failed authentication',
    );
    init.readMessage(msg2);
    expect(expectBadPacket(() => init.readMessage(msg2)).message).toBe(
      'handshake already complete',
    );
  });

  it('calls a message cut inside the encrypted static key truncated (XX message 2)', () => {
    const init = new HandshakeState({
      ...base,
      pattern: 'XX',
      initiator: true,
      s: generateDhKeyPair(),
    });
    const resp = new HandshakeState({
      ...base,
      pattern: 'XX',
      initiator: false,
      s: generateDhKeyPair(),
    });
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
    const msg2 = resp.writeMessage(new Uint8Array(0));
    // e (32), then s encrypted (32 + 16): cut 8 bytes before the end of s.
    expect(expectBadPacket(() => init.readMessage(msg2.subarray(0, 32 + 40))).message).toBe(
      'handshake message truncated',
    );
    expect(init.readMessage(msg2).length).toBe(0);
  });

  it('a low-order static key supplied by the caller fails as the peer’s fault, at first use', () => {
    // Pre-message keys (here rs of NK) never pass through readMessage's screening.
    const init = new HandshakeState({
      ...base,
      pattern: 'NK',
      initiator: true,
      rs: new Uint8Array(32),
    });
    const err = expectBadPacket(() => init.writeMessage(new Uint8Array(0)), 'handshake');
    expect(err).toBeInstanceOf(BadPacket);
    expect(err.message).toBe('peer sent a low-order X25519 key');
    // Nothing moved on: the same write fails the same way again.
    expect(expectBadPacket(() => init.writeMessage(new Uint8Array(0))).message).toBe(
      'peer sent a low-order X25519 key',
    );
  });
});

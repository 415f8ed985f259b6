import {
  cipherId,
  createLocalNode,
  startInitiator,
} from '../../source/net/core/handshake/handshake.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { encodeInit } from '../../source/net/wire/packet.js';
import type { Rng } from './rng.js';

/**
 * What the fuzz tests, the security tests and `npm run chaos` throw at a
 * node: one shared generator, so the report measures what the tests assert.
 */
export const HOSTILE_KINDS = ['random', 'truncated', 'bit-flipped', 'replayed'] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

/** A hostile datagram of `kind`, derived from the genuine packet `base`. */
export function hostileDatagram(rng: Rng, base: Buffer, kind: HostileKind): Buffer {
  switch (kind) {
    case 'random':
      return rng.bytes(1 + rng.int(1400));
    case 'truncated':
      return base.subarray(0, rng.int(base.length));
    case 'bit-flipped': {
      const d = Buffer.from(base);
      const bit = rng.int(d.length * 8);
      d[bit >> 3]! ^= 1 << (bit & 7);
      return d;
    }
    case 'replayed':
      return base;
  }
}

/** A valid-looking INIT (a real Noise message 1 from a throwaway identity) for any sender index. */
export function initTemplate(): (sender: number) => Buffer {
  const attacker = createLocalNode(generateIdentity(), 'mallory', 'chacha20-poly1305');
  const { message } = startInitiator(attacker);
  return (sender) => encodeInit(sender, cipherId('chacha20-poly1305'), message);
}

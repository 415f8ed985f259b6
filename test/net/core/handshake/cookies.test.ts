import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CookieJar, TokenBucket } from '../../../../source/net/core/handshake/cookies.js';
import { COOKIE_LENGTH } from '../../../../source/net/wire/packet.js';

/**
 * Cookies (WireGuard §5.4.7, QUIC Retry RFC 9000 §8.1.2): a MAC of the sender's
 * address under a secret that rotates every two minutes, the previous secret
 * still accepted, so a cookie lives between two and four minutes.
 */

const ROTATE = 120_000;

/**
 * A jar with real random secrets. Main's CookieJar takes its randomness as a
 * constructor argument (an injected source); this branch's takes none. The
 * cast lets these tests run on both until the merge.
 */
const Jar = CookieJar as unknown as new (random: (n: number) => Buffer) => CookieJar;
const newJar = (): CookieJar => new Jar(randomBytes);
const HOME = { address: '198.51.100.7', port: 4000 };

describe('CookieJar', () => {
  it('accepts its own cookie from the address it was made for', () => {
    const jar = newJar();
    const cookie = jar.make(HOME, 0);
    expect(cookie).toHaveLength(COOKIE_LENGTH);
    expect(jar.verify(cookie, HOME, 0)).toBe(true);
    expect(jar.verify(cookie, { ...HOME }, 1000)).toBe(true);
  });

  it('binds the cookie to the address: another port, host or family fails', () => {
    const jar = newJar();
    const cookie = jar.make(HOME, 0);
    for (const other of [
      { address: HOME.address, port: HOME.port + 1 },
      { address: '198.51.100.8', port: HOME.port },
      { address: '::ffff:198.51.100.8', port: HOME.port },
      { address: '2001:db8::7', port: HOME.port },
    ]) {
      expect(jar.verify(cookie, other, 0), `${other.address}:${other.port}`).toBe(false);
    }
  });

  it('different addresses get different cookies; the same address the same one', () => {
    const jar = newJar();
    const a = jar.make(HOME, 0);
    expect(jar.make({ ...HOME }, 10)).toEqual(a);
    expect(jar.make({ ...HOME, port: 4001 }, 10)).not.toEqual(a);
  });

  it('rejects random cookies and cookies of the wrong length', () => {
    const jar = newJar();
    const real = jar.make(HOME, 0);
    for (let i = 0; i < 1000; i++) expect(jar.verify(randomBytes(16), HOME, 0)).toBe(false);
    expect(jar.verify(Buffer.alloc(16), HOME, 0)).toBe(false);
    expect(jar.verify(real.subarray(0, 15), HOME, 0)).toBe(false);
    expect(jar.verify(Buffer.concat([real, Buffer.alloc(1)]), HOME, 0)).toBe(false);
    expect(jar.verify(Buffer.alloc(0), HOME, 0)).toBe(false);
  });

  it('a cookie from another jar (another secret) fails', () => {
    const cookie = newJar().make(HOME, 0);
    expect(newJar().verify(cookie, HOME, 0)).toBe(false);
  });

  it('survives one rotation and fails after the second (checked every minute)', () => {
    const jar = newJar();
    const cookie = jar.make(HOME, 0);
    for (let t = 0; t < 2 * ROTATE; t += ROTATE / 2) {
      expect(jar.verify(cookie, HOME, t), `at ${t} ms`).toBe(true);
    }
    expect(jar.verify(cookie, HOME, 2 * ROTATE)).toBe(false);
    expect(jar.verify(cookie, HOME, 3 * ROTATE)).toBe(false);
  });

  it('rotates exactly every two minutes: the boundary is 120 s, not earlier', () => {
    const jar = newJar();
    const first = jar.make(HOME, 0);
    expect(jar.make(HOME, ROTATE - 1)).toEqual(first);
    const second = jar.make(HOME, ROTATE);
    expect(second).not.toEqual(first);
    // first is now the previous secret's: still good until the next rotation.
    expect(jar.verify(first, HOME, 2 * ROTATE - 1)).toBe(true);
    expect(jar.verify(second, HOME, 2 * ROTATE - 1)).toBe(true);
    expect(jar.verify(first, HOME, 2 * ROTATE)).toBe(false);
    expect(jar.verify(second, HOME, 2 * ROTATE)).toBe(true);
  });

  it('a cookie older than two rotation periods fails even if the jar was idle meanwhile', () => {
    const jar = newJar();
    const cookie = jar.make(HOME, 0);
    // No call between 0 and 10 minutes: the rotation is lazy, but both
    // secrets it could check against are too old by then.
    expect(jar.verify(cookie, HOME, 10 * 60_000)).toBe(false);
    const other = newJar();
    const c2 = other.make(HOME, 0);
    expect(other.verify(c2, HOME, 2 * ROTATE)).toBe(false);
  });

  it('rotations keep a fixed two-minute grid however late a call notices them', () => {
    const jar = newJar();
    jar.make(HOME, 0); // the grid starts at the first call
    const late = jar.make(HOME, 5 * ROTATE + 7); // made under the secret of [5R, 6R)
    expect(jar.verify(late, HOME, 6 * ROTATE + 6)).toBe(true);
    expect(jar.verify(late, HOME, 7 * ROTATE - 1)).toBe(true);
    expect(jar.verify(late, HOME, 7 * ROTATE)).toBe(false);
  });

  it('model: a cookie is accepted exactly until the second grid rotation after it was made', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * ROTATE }),
        fc.array(fc.integer({ min: 0, max: 3 * ROTATE }), { minLength: 1, maxLength: 8 }),
        (madeAt, gaps) => {
          const jar = newJar();
          jar.make(HOME, 0);
          const cookie = jar.make(HOME, madeAt);
          const dies = (Math.floor(madeAt / ROTATE) + 2) * ROTATE;
          let t = madeAt;
          for (const gap of gaps) {
            t += gap;
            expect(jar.verify(cookie, HOME, t)).toBe(t < dies);
          }
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then `rate` a second', () => {
    const bucket = new TokenBucket(10, 5);
    const taken = Array.from({ length: 8 }, () => bucket.take(0));
    expect(taken).toEqual([true, true, true, true, true, false, false, false]);
    // 10 a second: one token per 100 ms.
    expect(bucket.take(99)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(100)).toBe(false);
  });

  it('refills up to the burst, never beyond', () => {
    const bucket = new TokenBucket(10, 3);
    for (let i = 0; i < 3; i++) bucket.take(0);
    let n = 0;
    while (bucket.take(60_000)) n++;
    expect(n).toBe(3);
  });

  it('counts fractional refills (a token per 1000 / rate ms, carried over)', () => {
    const bucket = new TokenBucket(4, 1);
    expect(bucket.take(0)).toBe(true);
    expect(bucket.take(125)).toBe(false); // half a token
    expect(bucket.take(250)).toBe(true); // the other half
    expect(bucket.take(250)).toBe(false);
  });
});

/**
 * Small, fast, seeded PRNG for tests: sfc32 (Chris Doty-Humphrey's Small Fast
 * Chaotic generator, 128-bit state), seeded through splitmix32 so that nearby
 * seeds (0, 1, 2, ...) give unrelated streams.
 *
 * Not cryptographic. Same seed => same sequence, on every platform.
 */

const TWO_POW_32 = 4294967296;

/** One splitmix32 step: returns [output, nextState]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [(z ^ (z >>> 16)) >>> 0, next];
}

/** Fold any finite number into 32 bits (keeps seeds such as Date.now() meaningful). */
function foldSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be finite, got ${seed}`);
  const whole = Math.floor(Math.abs(seed));
  const lo = whole >>> 0;
  const hi = Math.floor(whole / TWO_POW_32) >>> 0;
  const sign = seed < 0 ? 0x80000000 : 0;
  return (lo ^ Math.imul(hi, 0x9e3779b1) ^ sign) >>> 0;
}

export class Rng {
  /** The seed as given (pass it to `new Rng()` to replay the same stream). */
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.seed = seed;
    let s = foldSeed(seed);
    let out: number;
    [out, s] = splitmix32(s);
    this.a = out;
    [out, s] = splitmix32(s);
    this.b = out;
    [out, s] = splitmix32(s);
    this.c = out;
    [out, s] = splitmix32(s);
    this.d = out;
    // Warm up: let the state mix before the first output.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Next raw 32-bit unsigned integer. */
  u32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    this.c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / TWO_POW_32;
  }

  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    if (!(maxExclusive > 0) || !Number.isFinite(maxExclusive)) {
      throw new RangeError(
        `Rng.int: maxExclusive must be a positive finite number, got ${maxExclusive}`,
      );
    }
    return Math.floor(this.next() * maxExclusive);
  }

  /** True with probability p (always consumes exactly one draw). */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** n pseudo-random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    if (i < n) {
      let v = this.u32();
      for (; i < n; i++) {
        out[i] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }
}

/**
 * A small seeded pseudo-random number generator, so that shardBatches' deal (distributed/shard.ts)
 * and the digits job's initialisation, data split and batch order are reproducible from a seed
 * alone, on any machine.
 *
 * The generator is xoshiro128** (Blackman and Vigna, 2018): 128 bits of state, fast with 32-bit
 * integer arithmetic (which is what JavaScript's bit operations give), and statistically far
 * better than a linear congruential generator or mulberry32. Its state is filled from the seed by
 * a splitmix-style generator (a Weyl sequence through a bijective hash), as its authors
 * recommend, so that nearby seeds give unrelated streams.
 */
import { checkNumber } from './validate';

export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number;
  /** A uniform integer in [0, n), without modulo bias; n in [1, 2^32]. */
  nextInt(n: number): number;
  /** A standard normal deviate (mean 0, variance 1), by the Box–Muller transform. */
  normal(): number;
}

/** A bijective 32-bit integer hash (Chris Wellons' "lowbias32"): each input bit affects every output bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

const GOLDEN_GAMMA = 0x9e3779b9;

/** The low and high 32-bit words of an integer in the safe range (two's complement for negatives). */
function words(n: number): [number, number] {
  return [n >>> 0, Math.floor(n / 2 ** 32) >>> 0];
}

/**
 * One 32-bit seed from several integers, e.g. mixSeed(seed, epoch) for an epoch's shuffle. Unlike
 * seed + epoch, it gives unrelated seeds for (s, e + 1) and (s + 1, e).
 */
export function mixSeed(...parts: number[]): number {
  let h = GOLDEN_GAMMA;
  parts.forEach((part, i) => {
    checkNumber(`mixSeed: part ${i}`, part, { integer: true });
    for (const w of words(part)) h = mix32((h + Math.imul(GOLDEN_GAMMA, i + 1)) ^ w);
  });
  return h;
}

/** A xoshiro128** generator seeded from any safe integer. */
export function createRng(seed: number): Rng {
  checkNumber('seed', seed, { integer: true });
  // The state is four hashed steps of a Weyl sequence started from the hashed seed. It is never
  // all zero, which xoshiro cannot leave: mix32 is a bijection and the four inputs differ.
  const [lo, hi] = words(seed);
  let counter = mix32(lo ^ mix32(hi + GOLDEN_GAMMA));
  const next = (): number => mix32((counter = (counter + GOLDEN_GAMMA) | 0));
  let s0 = next();
  let s1 = next();
  let s2 = next();
  let s3 = next();

  const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

  function nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  }

  function nextFloat(): number {
    // 27 + 26 bits from two draws make a double's full 53-bit mantissa.
    const high = nextUint32() >>> 5;
    const low = nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  function nextInt(n: number): number {
    checkNumber('n', n, { integer: true, min: 1, max: 2 ** 32 });
    // Rejection sampling: draws above the largest multiple of n would favour small results.
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = nextUint32();
      if (x < limit) return x % n;
    }
  }

  function normal(): number {
    // 1 - u lies in (0, 1], so the logarithm is finite. The second deviate of the pair is not
    // kept, so a generator's state is only its four words.
    const u = 1 - nextFloat();
    const v = nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  return { nextUint32, nextFloat, nextInt, normal };
}

/** Fisher–Yates: a uniformly random permutation of `items`, in place. */
export function shuffleInPlace<T>(items: { length: number; [i: number]: T }, rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}

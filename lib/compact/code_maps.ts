/**
 * The code maps of 8-bit optimizer state: 256 ascending float32 values in
 * [-1, 1] (signed, for moments that change sign) or [0, 1] (unsigned, for
 * second moments), the "dynamic" data type of Dettmers et al., "8-bit
 * Optimizers via Block-wise Quantization" (2022), built as bitsandbytes'
 * create_dynamic_map builds it: for each exponent e = 0..6, the midpoints of
 * an even split of [0.1, 1] into 2^e (signed, each sign) or 2^(e+1)
 * (unsigned) parts, scaled by 10^(e-6); plus 0 and 1. Small magnitudes get
 * few, coarse codes and large ones many fine ones, which suits moments whose
 * entries span orders of magnitude. Computed in double, rounded once to
 * float32 (bitsandbytes computes in float32, so a value may differ in its
 * last bit).
 */
const EXPONENTS = 7;

function dynamicMap(signed: boolean): Float32Array {
  const values: number[] = [0, 1];
  for (let e = 0; e < EXPONENTS; e++) {
    const parts = signed ? 2 ** e : 2 ** (e + 1);
    const scale = 10 ** (e - (EXPONENTS - 1));
    for (let j = 0; j < parts; j++) {
      const lo = 0.1 + (0.9 * j) / parts;
      const hi = 0.1 + (0.9 * (j + 1)) / parts;
      const mean = (lo + hi) / 2;
      values.push(scale * mean);
      if (signed) values.push(-scale * mean);
    }
  }
  if (values.length !== 256) throw new Error(`internal: a code map of ${values.length} values`);
  return Float32Array.from(values.sort((a, b) => a - b));
}

/** The signed map (first moments, momentum): shared, never to be written. */
export const SIGNED_CODE_MAP: Float32Array = dynamicMap(true);
/** The unsigned map (second moments, accumulators of squares). */
export const UNSIGNED_CODE_MAP: Float32Array = dynamicMap(false);

/** Whether `map` can serve as a code map: 256 finite values, ascending, in [-1, 1]. */
export function isCodeMap(map: Float32Array): boolean {
  if (map.length !== 256) return false;
  for (let i = 0; i < 256; i++) {
    const v = map[i];
    if (!(v >= -1 && v <= 1) || (i > 0 && v < map[i - 1])) return false;
  }
  return true;
}

/**
 * The code maps of 8-bit optimizer state: the value of each of 256 codes at
 * absmax 1, kept in the state beside the codes (one array every param
 * shares), so that a state dict or checkpoint says which code its codes are.
 *
 * Today's maps are the tables of the search-free codes of
 * lib/compact/code8.ts (signed for moments that change sign, unsigned for
 * second moments). State written before them holds a map of bitsandbytes'
 * "dynamic" type (Dettmers et al., "8-bit Optimizers via Block-wise
 * Quantization", 2022): 256 ascending values in [-1, 1]. Such a map is still
 * read (isCodeMap) and its codes converted on load (state_storage.ts).
 */
import { SIGNED_TABLE, UNSIGNED_TABLE } from './code8';

/** The signed map (first moments, momentum): shared, never to be written. */
export const SIGNED_CODE_MAP: Float32Array = SIGNED_TABLE;
/** The unsigned map (second moments, accumulators of squares). */
export const UNSIGNED_CODE_MAP: Float32Array = UNSIGNED_TABLE;

/** Whether `map` is the map of today's signed or unsigned code, bit for bit. */
export function isCurrentCodeMap(map: Float32Array, signed: boolean): boolean {
  const own = signed ? SIGNED_CODE_MAP : UNSIGNED_CODE_MAP;
  if (map.length !== 256) return false;
  const a = new Uint32Array(map.buffer, map.byteOffset, 256);
  const b = new Uint32Array(own.buffer, own.byteOffset, 256);
  for (let i = 0; i < 256; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `map` can serve as an older code map: 256 finite values, ascending, in [-1, 1]. */
export function isCodeMap(map: Float32Array): boolean {
  if (map.length !== 256) return false;
  for (let i = 0; i < 256; i++) {
    const v = map[i];
    if (!(v >= -1 && v <= 1) || (i > 0 && v < map[i - 1])) return false;
  }
  return true;
}

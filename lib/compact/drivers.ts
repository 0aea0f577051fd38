/**
 * The reference twins of native/kernels/compact_state.h: drivers that run a
 * kernel over compactly stored state by widening it into float32, running the
 * kernel's own reference over the float32 copy, and storing it back. The
 * kernels are elementwise, so widening a whole tensor here gives the bits the
 * native driver gets block by block.
 *
 *   nearestBf16Kernel(k)     "<k>_bf16": bfloat16 state, rounded to nearest even.
 *   stochasticBf16Kernel(k)  "<k>_bf16_sr": bfloat16 state, rounded
 *                            stochastically with a hash of (seed, tensor,
 *                            slot pair, element) as the random bits: its
 *                            low 16 bits for the pair's first slot, its
 *                            high 16 for the second.
 *   blockwise8Kernel(k)      "<k>_int8": per state slot 8-bit codes (code8.ts), a
 *                            float32 absmax per block of 256 and the code's table.
 */
import type { StateArray } from '../tensor';
import { KernelDef, SlotRole, defineKernel } from '../kernels/kernel_def';
import { bf16RoundStochastic, storeBf16, storeBf16Nearest, widenBf16 } from './bfloat16';
import { canonicalTable, codeOfTable, encode8, inverseOf } from './code8';

/** Elements per block: one absmax per block of 8-bit state; the unit of work either way. */
export const COMPACT_BLOCK = 256;
/** Values in a code map. */
export const CODES = 256;

/** murmur3's 32-bit finalizer (native compact_state.h's mix32). */
export function mix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The random stream of one pair of state slots of one tensor in one step (native noise_key). */
export function noiseKey(seed: number, tensor: number, pair: number): number {
  return mix32((seed ^ mix32((Math.imul(tensor >>> 0, 0x9e3779b9) + pair) >>> 0)) >>> 0);
}

/** The block scale of `values[begin, end)`: the largest magnitude, NaN if any is NaN (native max_nan). */
export function blockAbsmax(values: Float32Array, begin: number, end: number): number {
  let absmax = 0;
  for (let i = begin; i < end; i++) {
    const v = values[i];
    const a = v < 0 ? -v : v;
    absmax = a !== a || a > absmax ? a : absmax;
  }
  return absmax;
}

/** Quantizes `values` block-wise into `codes` and `absmax` with the code `table` describes (native Blockwise8). */
export function quantizeBlocks(values: Float32Array, codes: Uint8Array, absmax: Float32Array, table: Float32Array): void {
  const code = codeOfTable(table);
  for (let block = 0, begin = 0; begin < values.length; block++, begin += COMPACT_BLOCK) {
    const end = Math.min(begin + COMPACT_BLOCK, values.length);
    const scale = Math.fround(blockAbsmax(values, begin, end));
    absmax[block] = scale;
    const inverse = inverseOf(scale);
    for (let i = begin; i < end; i++) codes[i] = encode8(code, values[i], inverse);
  }
}

/** The float32 values of 8-bit state: the code's value times the absmax of its block (native Code8::decode). */
export function dequantizeBlocks(codes: Uint8Array, absmax: Float32Array, table: Float32Array): Float32Array {
  const values = canonicalTable(table);
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = Math.fround(values[codes[i]] * absmax[Math.floor(i / COMPACT_BLOCK)]);
  return out;
}

const nearest = new WeakMap<KernelDef, KernelDef>();
const stochastic = new WeakMap<KernelDef, KernelDef>();
const blockwise = new WeakMap<KernelDef, KernelDef>();

/** The bfloat16 driver of `kernel`, rounding to nearest even (one KernelDef per kernel). */
export function nearestBf16Kernel(kernel: KernelDef): KernelDef {
  return bf16Kernel(kernel, false, nearest);
}

/** The bfloat16 driver of `kernel`, rounding stochastically (one KernelDef per kernel). */
export function stochasticBf16Kernel(kernel: KernelDef): KernelDef {
  return bf16Kernel(kernel, true, stochastic);
}

function bf16Kernel(kernel: KernelDef, stochasticRounding: boolean, memo: WeakMap<KernelDef, KernelDef>): KernelDef {
  let def = memo.get(kernel);
  if (def !== undefined) return def;
  const first = kernel.slots - kernel.stateSlots;
  def = defineKernel({
    name: `${kernel.name}_bf16${stochasticRounding ? '_sr' : ''}`,
    slots: kernel.slots,
    stateSlots: kernel.stateSlots,
    scalars: stochasticRounding ? [...kernel.scalars, 'roundingSeed'] : kernel.scalars,
    variants: [{ param: 'float32', state: 'bfloat16' }],
    reference(r, s, buffers, base) {
      const tensor = base / kernel.slots;
      const local = buffers.slice(base, base + kernel.slots);
      for (let k = first; k < kernel.slots; k++) local[k] = widenBf16(buffers[base + k] as Uint16Array);
      kernel.reference(r, s, local, 0);
      for (let k = first; k < kernel.slots; k++) {
        const values = local[k] as Float32Array;
        const stored = buffers[base + k] as Uint16Array;
        if (!stochasticRounding) {
          storeBf16Nearest(values, stored);
          continue;
        }
        // One hash per element serves two state slots: slots 2j and 2j + 1 (counted from the
        // first state slot) draw from stream j, the first its low 16 bits, the second its high 16.
        const slot = k - first;
        const key = noiseKey((s as Record<string, number>).roundingSeed >>> 0, tensor, slot >> 1);
        const shift = (slot & 1) * 16;
        storeBf16(values, stored, (bits, i) => bf16RoundStochastic(bits, mix32((key + i) >>> 0) >>> shift));
      }
    },
  });
  memo.set(kernel, def);
  return def;
}

/** The 8-bit block-wise driver of `kernel` (one KernelDef per kernel). */
export function blockwise8Kernel(kernel: KernelDef): KernelDef {
  let def = blockwise.get(kernel);
  if (def !== undefined) return def;
  const first = kernel.slots - kernel.stateSlots;
  const states = kernel.stateSlots;
  const roles: SlotRole[] = [];
  for (let k = 0; k < first; k++) roles.push({ kind: 'param', size: 0 });
  for (let k = 0; k < states; k++) roles.push({ kind: 'state', size: 0 }, { kind: 'blocks', size: COMPACT_BLOCK }, { kind: 'table', size: CODES });
  const slots = first + 3 * states;
  def = defineKernel({
    name: `${kernel.name}_int8`,
    slots,
    stateSlots: 3 * states,
    scalars: kernel.scalars,
    variants: [{ param: 'float32', state: 'uint8' }],
    roles,
    reference(r, s, buffers, base) {
      const local: StateArray[] = buffers.slice(base, base + first);
      const stored = (k: number) => ({
        codes: buffers[base + first + 3 * k] as Uint8Array,
        absmax: buffers[base + first + 3 * k + 1] as Float32Array,
        map: buffers[base + first + 3 * k + 2] as Float32Array,
      });
      for (let k = 0; k < states; k++) {
        const { codes, absmax, map } = stored(k);
        local.push(dequantizeBlocks(codes, absmax, map));
      }
      kernel.reference(r, s, local, 0);
      for (let k = 0; k < states; k++) {
        const { codes, absmax, map } = stored(k);
        quantizeBlocks(local[first + k] as Float32Array, codes, absmax, map);
      }
    },
  });
  blockwise.set(kernel, def);
  return def;
}

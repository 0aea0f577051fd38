/**
 * Allocation of the library's buffers: tensors and state, each starting on a
 * 64-byte boundary (which only the addon can see, so this file loads it when it can).
 */
import { optionalAddon } from './native';
import { StateArray, StateDType, Tensor, lengthOf } from './tensor';

/** A new zero-filled state buffer of `dtype` and `length` elements, 64-byte aligned. */
export function allocState(dtype: StateDType, length: number): StateArray {
  switch (dtype) {
    case 'float32':
      return alignedFloat32(length);
    case 'float64':
      return alignedFloat64(length);
    case 'bfloat16':
      return alignedView(length, 2, (b, o, n) => new Uint16Array(b, o, n));
    case 'uint8':
      return alignedView(length, 1, (b, o, n) => new Uint8Array(b, o, n));
  }
}

/** A new zero-filled tensor of the same dtype as `like`, of `length` elements (64-byte aligned). */
export function zerosLike(like: Tensor, length = lengthOf(like)): Tensor {
  return like instanceof Float32Array ? alignedFloat32(length) : alignedFloat64(length);
}

const ALIGNMENT = 64;

const STATE_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  bfloat16: Uint16Array,
  uint8: Uint8Array,
} as const;

/** Bytes per element of a state dtype. */
export function bytesPerElement(dtype: StateDType): number {
  return STATE_ARRAYS[dtype].BYTES_PER_ELEMENT;
}

/**
 * Zero-filled state buffers of the given types and lengths, carved from one
 * ArrayBuffer, each starting on a 64-byte boundary. An optimizer allocates a
 * group's new state this way: one allocation instead of thousands, and a
 * planned step checks one ArrayBuffer instead of every view (native/boundary/plan.cc).
 * Transferring any of them transfers them all.
 */
export function allocStateSlab(items: ReadonlyArray<{ dtype: StateDType; length: number }>): StateArray[] {
  const offsets: number[] = [];
  let bytes = 0;
  for (const { dtype, length } of items) {
    offsets.push(bytes);
    bytes += Math.ceil((length * STATE_ARRAYS[dtype].BYTES_PER_ELEMENT) / ALIGNMENT) * ALIGNMENT;
  }
  const buffer = new ArrayBuffer(bytes + ALIGNMENT);
  const addon = optionalAddon();
  const start = addon ? addon.alignmentOffset(buffer, ALIGNMENT) : 0;
  return items.map(({ dtype, length }, k) => new STATE_ARRAYS[dtype](buffer, start + offsets[k], length));
}

/**
 * JavaScript's allocator starts typed arrays 16 bytes off a 64-byte boundary
 * as often as not; SIMD loads and cache lines want 64. We over-allocate by one
 * cache line and start the view at the first aligned byte, which only the addon
 * can see (JavaScript has no addresses). Without the addon: offset 0.
 */
function alignedView<T>(length: number, bytesPerElement: number, make: (buf: ArrayBuffer, offset: number, length: number) => T): T {
  const buffer = new ArrayBuffer(length * bytesPerElement + ALIGNMENT);
  const addon = optionalAddon();
  const offset = addon ? addon.alignmentOffset(buffer, ALIGNMENT) : 0;
  return make(buffer, offset, length);
}

/** A zero-filled Float32Array whose data starts on a 64-byte boundary. */
export function alignedFloat32(length: number): Float32Array {
  return alignedView(length, 4, (b, o, n) => new Float32Array(b, o, n));
}

/** A zero-filled Float64Array whose data starts on a 64-byte boundary. */
export function alignedFloat64(length: number): Float64Array {
  return alignedView(length, 8, (b, o, n) => new Float64Array(b, o, n));
}

import { optionalAddon } from './native';

/** The buffers the library works on: a flat tensor is a Float32Array or a Float64Array. */
export type Tensor = Float32Array | Float64Array;

export type DType = 'float32' | 'float64';

export function dtypeOf(t: Tensor): DType {
  return t instanceof Float32Array ? 'float32' : 'float64';
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Float32Array || value instanceof Float64Array;
}

/** A new zero-filled tensor of the same dtype as `like`, of `length` elements (64-byte aligned). */
export function zerosLike(like: Tensor, length = like.length): Tensor {
  return like instanceof Float32Array ? alignedFloat32(length) : alignedFloat64(length);
}

const ALIGNMENT = 64;

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

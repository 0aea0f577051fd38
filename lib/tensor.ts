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

function aligned<T>(length: number, bytesPerElement: number, make: (buf: ArrayBuffer, offset: number, length: number) => T): T {
  // JavaScript's allocator gives no alignment guarantee beyond 8 bytes; SIMD loads and
  // cache lines want 64. Over-allocate by one cache line and start at the first aligned byte.
  // The offset is found from a probe of the backing store's address, which JS cannot see,
  // so we rely on ArrayBuffers being at least 8-byte aligned and pick the offset natively
  // when the addon is present (see native.ts alignmentOffset); here, without it, offset 0.
  const buffer = new ArrayBuffer(length * bytesPerElement + ALIGNMENT);
  const offset = alignmentOffsetOf(buffer);
  return make(buffer, offset, length);
}

let alignmentProbe: ((buffer: ArrayBuffer) => number) | null = null;

/** Installed by the native binding: returns how many bytes past the start the first 64-byte boundary lies. */
export function setAlignmentProbe(probe: (buffer: ArrayBuffer) => number): void {
  alignmentProbe = probe;
}

function alignmentOffsetOf(buffer: ArrayBuffer): number {
  return alignmentProbe ? alignmentProbe(buffer) : 0;
}

/** A zero-filled Float32Array whose data starts on a 64-byte boundary. */
export function alignedFloat32(length: number): Float32Array {
  return aligned(length, 4, (b, o, n) => new Float32Array(b, o, n));
}

/** A zero-filled Float64Array whose data starts on a 64-byte boundary. */
export function alignedFloat64(length: number): Float64Array {
  return aligned(length, 8, (b, o, n) => new Float64Array(b, o, n));
}

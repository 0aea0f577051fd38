/** The buffers the library works on: a flat tensor is a Float32Array or a Float64Array. */
export type Tensor = Float32Array | Float64Array;

/** The element type of a param or gradient. */
export type DType = 'float32' | 'float64';

// The engine's own answers about a typed array, read through %TypedArray%.prototype's getters:
// what the addon sees too. `instanceof` and `.length` can be made to lie (a Proxy, a prototype
// swapped, a subclass or an own property redefining `length`); these cannot.
const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsicTag = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, Symbol.toStringTag)!.get!;
const intrinsicLength = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'length')!.get!;
const intrinsicByteLength = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'byteLength')!.get!;
const intrinsicBuffer = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'buffer')!.get!;
const intrinsicByteOffset = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'byteOffset')!.get!;

/**
 * The element type's name ("Float32Array", ...) of a real typed array (a subclass's too) whose
 * prototype chain agrees with it, or undefined for anything else: a Proxy, or a typed array whose
 * prototype was swapped (its own getters would then answer for another type, or not at all).
 */
export function typedArrayTag(value: unknown): string | undefined {
  const tag = intrinsicTag.call(value) as string | undefined;
  return tag !== undefined && value instanceof (globalThis as unknown as Record<string, new () => object>)[tag] ? tag : undefined;
}

/** The element count the engine (and the addon) sees: not what a subclass or an own `length` property says. For typed arrays only. */
export function lengthOf(t: ArrayBufferView): number {
  return intrinsicLength.call(t) as number;
}

/** The byte length the engine sees (0 when detached or out of bounds). For typed arrays only. */
export function byteLengthOf(t: ArrayBufferView): number {
  return intrinsicByteLength.call(t) as number;
}

/** The byte offset the engine sees. For typed arrays only. */
export function byteOffsetOf(t: ArrayBufferView): number {
  return intrinsicByteOffset.call(t) as number;
}

/** The ArrayBuffer (or SharedArrayBuffer) the engine sees behind a typed array. */
export function bufferOf(t: ArrayBufferView): ArrayBufferLike {
  return intrinsicBuffer.call(t) as ArrayBufferLike;
}

const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get! as (this: ArrayBufferLike) => number;
const sharedArrayBufferByteLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!.get! as (this: ArrayBufferLike) => number;

/**
 * The engine's byte-length getter for `buffer` (an ArrayBuffer's answers 0 once it is detached):
 * call it as `reader.call(buffer)`. An ArrayBuffer is an ordinary object, so an own `byteLength`
 * property could claim a size it no longer has. Chosen once (ArrayBuffer's getter refuses a
 * SharedArrayBuffer and the other way round), so that a check repeated every step is one call.
 */
export function byteLengthReader(buffer: ArrayBufferLike): (this: ArrayBufferLike) => number {
  try {
    arrayBufferByteLength.call(buffer);
    return arrayBufferByteLength;
  } catch {
    return sharedArrayBufferByteLength;
  }
}

/**
 * A fresh view of the memory `t` views, as the engine (and the addon) sees it: the built-in
 * constructor of its element type, its intrinsic offset and length, no own properties. A loop
 * over it cannot be lengthened by a lying `length` (an own property or a subclass's getter,
 * which may claim 2^40 elements of an 11-element array, or answer differently on each read).
 * For a typed array of a built-in element type (a checked one); an empty one gets an empty view of
 * its own, since an empty view's buffer may be detached (a view of a detached buffer cannot be made).
 */
export function engineView<T extends ArrayBufferView>(t: T): T {
  const View = (globalThis as unknown as Record<string, new (...args: [ArrayBufferLike, number, number] | [number]) => T>)[typedArrayTag(t)!];
  const length = lengthOf(t);
  return length === 0 ? new View(0) : new View(bufferOf(t), byteOffsetOf(t), length);
}

export function dtypeOf(t: Tensor): DType {
  return typedArrayTag(t) === 'Float32Array' ? 'float32' : 'float64';
}

export function isTensor(value: unknown): value is Tensor {
  const tag = typedArrayTag(value);
  return tag === 'Float32Array' || tag === 'Float64Array';
}

/**
 * The element types optimizer state may be stored in. bfloat16 has no typed
 * array of its own: its 16-bit patterns are stored in a Uint16Array (the upper
 * half of the float32 with the same sign, exponent and leading mantissa bits).
 */
export type StateDType = 'float32' | 'float64' | 'bfloat16' | 'uint8';

/** A state buffer: a typed array of one of the StateDTypes. */
export type StateArray = Float32Array | Float64Array | Uint16Array | Uint8Array;

/** The StateDType of a typed array, or null if it is none (by element type: a subclass of Float32Array is float32). */
export function stateDtypeOf(value: unknown): StateDType | null {
  switch (typedArrayTag(value)) {
    case 'Float32Array':
      return 'float32';
    case 'Float64Array':
      return 'float64';
    case 'Uint16Array':
      return 'bfloat16';
    case 'Uint8Array':
      return 'uint8';
    default:
      return null;
  }
}

/** The typed array that holds each StateDType, by name, for messages. */
export const STATE_ARRAY_NAMES: Readonly<Record<StateDType, string>> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  bfloat16: 'Uint16Array (bfloat16)',
  uint8: 'Uint8Array',
};

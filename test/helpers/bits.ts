/**
 * Comparing floating-point results exactly. The native kernels and the
 * JavaScript reference are designed to agree bit for bit (every thread count,
 * every instruction set), so most tests compare bits, not values within a
 * tolerance: -0 differs from +0, and NaN payloads count.
 */
import { createHash } from 'crypto';
import { expect } from 'chai';
import type { DType, StateArray } from '../../lib/tensor';

/** Any buffer the library keeps: float tensors and compact state (bfloat16 bits, uint8 codes). */
type Tensor = StateArray;

/** The raw bytes of a tensor's elements (a view, not a copy). */
export function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** The elements' bits as 32-bit words (two per float64): equal words ⇔ equal bits. */
function wordsOf(t: Tensor): Uint32Array {
  return new Uint32Array(t.buffer, t.byteOffset, t.byteLength / 4);
}

/**
 * The index of the first element whose bits differ, -1 if every bit agrees.
 * Tensors of different dtypes or lengths differ at index 0 by definition.
 */
export function firstBitDifference(a: Tensor, b: Tensor): number {
  if (a.constructor !== b.constructor || a.length !== b.length) return 0;
  if (a.length === 0) return -1; // also covers detached views, which cannot be viewed again
  // Compare 32-bit words (BigInt comparisons of float64 bits would be an order of magnitude slower).
  // Integer arrays (bfloat16 bit patterns, uint8 codes) compare by value: equal values ⇔ equal bits.
  if (a.BYTES_PER_ELEMENT < 4) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
    return -1;
  }
  const x = wordsOf(a);
  const y = wordsOf(b);
  const wordsPerElement = a.BYTES_PER_ELEMENT / 4;
  for (let w = 0; w < x.length; w++) if (x[w] !== y[w]) return Math.floor(w / wordsPerElement);
  return -1;
}

/** Asserts bit-identical tensors; the message names the first differing element and both values. */
export function expectBitIdentical(actual: Tensor, expected: Tensor, label: string): void {
  if (actual.constructor !== expected.constructor || actual.length !== expected.length) {
    expect.fail(
      `${label}: expected a ${expected.constructor.name}(${expected.length}), got a ${actual.constructor.name}(${actual.length})`,
    );
  }
  const i = firstBitDifference(actual, expected);
  if (i >= 0) {
    expect.fail(`${label}: element ${i} of ${actual.length} differs: ${actual[i]} vs expected ${expected[i]}`);
  }
}

/** Asserts two lists of tensors are bit-identical element for element. */
export function expectAllBitIdentical(actual: readonly Tensor[], expected: readonly Tensor[], label: string): void {
  expect(actual.length, `${label}: tensor count`).to.equal(expected.length);
  actual.forEach((t, i) => expectBitIdentical(t, expected[i], `${label}[${i}]`));
}

/**
 * Units in the last place between two numbers of a dtype: 0 for identical
 * values, 1 for neighbours. +0 and -0 are 0 apart; NaN is Infinity apart from
 * everything, itself included.
 */
export function ulpDistance(a: number, b: number, dtype: DType): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  if (a === b) return 0;
  // Map floats to integers that are monotonic in value (two's complement of the sign-magnitude bits).
  const ordered = (x: number): bigint => {
    if (dtype === 'float32') {
      const bits = BigInt(new Uint32Array(new Float32Array([x]).buffer)[0]);
      return bits & 0x80000000n ? -(bits & 0x7fffffffn) : bits;
    }
    const bits = new BigUint64Array(new Float64Array([x]).buffer)[0];
    return bits & 0x8000000000000000n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = ordered(a) - ordered(b);
  return Number(d < 0n ? -d : d);
}

/** A SHA-256 over dtype, length and bytes of every tensor: equal hashes ⇔ bit-identical lists (short enough to print from a child process). */
export function hashTensors(tensors: readonly Tensor[]): string {
  const hash = createHash('sha256');
  for (const t of tensors) {
    hash.update(`${t.constructor.name}:${t.length};`);
    hash.update(bytesOf(t));
  }
  return hash.digest('hex');
}

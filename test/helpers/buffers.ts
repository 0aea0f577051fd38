/** Typed-array situations that are awkward to set up inline: detached buffers and views sharing one buffer. */
import type { DType, Tensor } from '../../lib/tensor';

/**
 * Detaches the tensor's ArrayBuffer the way postMessage to a worker would
 * (structuredClone with transfer): afterwards the tensor has length 0 and its
 * memory belongs to the returned copy.
 */
export function detach(t: Tensor): ArrayBuffer {
  return structuredClone(t.buffer as ArrayBuffer, { transfer: [t.buffer as ArrayBuffer] });
}

/**
 * Views into one shared ArrayBuffer: `layout` gives each view's
 * [first element, length] in elements of the dtype.
 */
export function viewsOfOneBuffer(dtype: DType, layout: ReadonlyArray<[number, number]>): Tensor[] {
  const bytes = dtype === 'float32' ? 4 : 8;
  const end = Math.max(...layout.map(([start, length]) => start + length));
  const buffer = new ArrayBuffer(end * bytes);
  return layout.map(([start, length]) =>
    dtype === 'float32' ? new Float32Array(buffer, start * bytes, length) : new Float64Array(buffer, start * bytes, length),
  );
}

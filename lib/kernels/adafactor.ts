/**
 * Adafactor, the reference twins of native/kernels/adafactor.h: the vector
 * kernel (a full second moment; two passes, as its driver
 * native/drivers/multi_tensor_layerwise.h runs it) and the matrix kernel (row and
 * column statistics; three passes over the tiles of
 * native/drivers/multi_tensor_factored.h, whose sums it takes in the same order).
 */
import { REDUCE_BLOCK, REDUCE_LANES } from './reduce_kind';
import type { StateArray } from '../tensor';
import { factoredShape } from './factored_shape';
import { KernelScalars, defineKernel } from './kernel_def';
import { foldLanes } from './lane_sums';
import type { Round } from './round';

/** native/drivers/multi_tensor_factored.h's tiles: rows by columns of a matrix, cut the same for any thread count. */
export const TILE_ROWS = 64;
export const TILE_COLS = 4096;

const SCALARS = ['gradScale', 'oneMinusBeta2', 'rho', 'eps1', 'machineEps1', 'eps2', 'd', 'decay'] as const;
type Scalars = KernelScalars<(typeof SCALARS)[number]>;

/** The per-step terms both kernels use, rounded to the param's type as the native Scalars are. */
function termsOf(r: Round, s: Scalars, param: StateArray) {
  const eps1 = r(s.machineEps1) !== 0 ? (param instanceof Float32Array ? 2 ** -23 : Number.EPSILON) : r(s.eps1);
  const gradScale = r(s.gradScale), w = r(s.oneMinusBeta2), decay = r(s.decay);
  const eps2 = r(s.eps2), rho = r(s.rho), d = r(s.d);
  const eps1Squared = r(eps1 * eps1);
  return {
    eps1,
    gradScale,
    // torch.lerp: a + w·(b − a) below w = 0.5, b − (b − a)·(1 − w) from it.
    lerp: (a: number, b: number): number => (w < 0.5 ? r(a + r(w * r(b - a))) : r(b - r(r(b - a) * r(1 - w)))),
    // U = G / √max(v̂, ε₁²), the clamp keeping NaN.
    update: (v: number, g: number): number => r(g / r(Math.sqrt(v < eps1Squared ? eps1Squared : v))),
    // α / max(1, RMS(U)/d), in double; a NaN RMS falls to the other operand.
    factor(paramSumSquares: number, updateSumSquares: number, n: number): number {
      const rootN = Math.sqrt(n);
      const paramRms = Math.sqrt(paramSumSquares) / rootN;
      const alpha = (paramRms > eps2 ? paramRms : eps2) * rho;
      const clip = Math.sqrt(updateSumSquares) / (rootN * d);
      return r(alpha / (clip > 1 ? clip : 1));
    },
    // θ·(1 − γλ) − f·U
    apply: (p: number, factor: number, u: number): number => r(r(p * decay) - r(factor * u)),
  };
}

const paramLanes = new Float64Array(REDUCE_LANES);
const updateLanes = new Float64Array(REDUCE_LANES);

/** A param without a matrix shape: param, grad, variance. */
export const adafactorKernel = defineKernel({
  name: 'adafactor',
  perTensor: true,
  slots: 3,
  stateSlots: 1,
  scalars: SCALARS,
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], variance = b[base + 2];
    const t = termsOf(r, s, param);
    // Pass 1, block by block: V, Σθ² and ΣU².
    let paramSumSquares = 0, updateSumSquares = 0;
    for (let begin = 0; begin < param.length; begin += REDUCE_BLOCK) {
      const end = Math.min(begin + REDUCE_BLOCK, param.length);
      paramLanes.fill(0);
      updateLanes.fill(0);
      for (let i = begin; i < end; i++) {
        const g = r(grad[i] * t.gradScale);
        const v = t.lerp(variance[i], r(g * g));
        variance[i] = v;
        const p = param[i], u = t.update(v, g);
        const l = (i - begin) % REDUCE_LANES;
        paramLanes[l] += p * p;
        updateLanes[l] += u * u;
      }
      paramSumSquares += foldLanes(paramLanes);
      updateSumSquares += foldLanes(updateLanes);
    }
    const factor = t.factor(paramSumSquares, updateSumSquares, param.length);
    // Pass 2: θ moved, U recomputed from the new V.
    for (let i = 0; i < param.length; i++) param[i] = t.apply(param[i], factor, t.update(variance[i], r(grad[i] * t.gradScale)));
  },
});

const rowLanes = new Float64Array(REDUCE_LANES);

/** A param of matrix shape: param, grad, row statistics, column statistics. */
export const adafactorFactoredKernel = defineKernel({
  name: 'adafactor_factored',
  perTensor: true,
  slots: 4,
  stateSlots: 2,
  roles: [
    { kind: 'param', size: 0 },
    { kind: 'param', size: 0 },
    { kind: 'rows', size: 0 },
    { kind: 'cols', size: 0 },
  ],
  scalars: SCALARS,
  reference(r, s, b, base) {
    const param = b[base], grad = b[base + 1], rowVar = b[base + 2], colVar = b[base + 3];
    const shape = factoredShape(param.length, rowVar.length, colVar.length)!; // the call's check found one
    const { matrices, rows, cols } = shape;
    if (param.length === 0) return;
    const t = termsOf(r, s, param);
    const rowChunks = Math.ceil(rows / TILE_ROWS), colChunks = Math.ceil(cols / TILE_COLS);
    const rowSums = new Float64Array(matrices * rows * colChunks);
    const colSums = new Float64Array(matrices * rowChunks * cols);
    const tileSums = new Float64Array(2 * matrices * rowChunks * colChunks);
    const forEachTile = (visit: (m: number, rc: number, cc: number, rowEnd: number, colEnd: number) => void): void => {
      for (let m = 0; m < matrices; m++) {
        for (let rc = 0; rc < rowChunks; rc++) {
          for (let cc = 0; cc < colChunks; cc++) visit(m, rc, cc, Math.min((rc + 1) * TILE_ROWS, rows), Math.min((cc + 1) * TILE_COLS, cols));
        }
      }
    };

    // Pass 1: each row's sum of G² over each tile's columns (in lanes), each column's down each tile's rows.
    forEachTile((m, rc, cc, rowEnd, colEnd) => {
      const col = (m * rowChunks + rc) * cols;
      for (let i = rc * TILE_ROWS; i < rowEnd; i++) {
        const offset = (m * rows + i) * cols;
        rowLanes.fill(0);
        for (let j = cc * TILE_COLS; j < colEnd; j++) {
          const g = r(grad[offset + j] * t.gradScale);
          const x = g * g;
          rowLanes[(j - cc * TILE_COLS) % REDUCE_LANES] += x;
          colSums[col + j] += x;
        }
        rowSums[(m * rows + i) * colChunks + cc] = foldLanes(rowLanes);
      }
    });

    // Between: R ← lerp(R, mean_j G², w), C ← lerp(C, mean_i G², w), and each matrix's max(mean_i R, ε₁).
    const means = new Float64Array(matrices);
    for (let m = 0; m < matrices; m++) {
      let rowTotal = 0;
      for (let i = 0; i < rows; i++) {
        let sum = 0;
        for (let cc = 0; cc < colChunks; cc++) sum += rowSums[(m * rows + i) * colChunks + cc];
        rowVar[m * rows + i] = t.lerp(rowVar[m * rows + i], r(sum / cols));
        rowTotal += rowVar[m * rows + i];
      }
      for (let j = 0; j < cols; j++) {
        let sum = 0;
        for (let rc = 0; rc < rowChunks; rc++) sum += colSums[(m * rowChunks + rc) * cols + j];
        colVar[m * cols + j] = t.lerp(colVar[m * cols + j], r(sum / rows));
      }
      const mean = r(rowTotal / rows);
      means[m] = mean < t.eps1 ? t.eps1 : mean;
    }
    // U = G / √max((R / mean)·C, ε₁²), R / mean once per row.
    const scaledRows = new Float64Array(matrices * rows);
    for (let m = 0; m < matrices; m++) for (let i = 0; i < rows; i++) scaledRows[m * rows + i] = r(rowVar[m * rows + i] / means[m]);
    const updateAt = (m: number, i: number, j: number, offset: number): number =>
      t.update(r(scaledRows[m * rows + i] * colVar[m * cols + j]), r(grad[offset + j] * t.gradScale));

    // Pass 2: per tile, Σθ² and ΣU² in lanes (element j of a row in lane j mod lanes).
    let k = 0;
    forEachTile((m, rc, cc, rowEnd, colEnd) => {
      paramLanes.fill(0);
      updateLanes.fill(0);
      for (let i = rc * TILE_ROWS; i < rowEnd; i++) {
        const offset = (m * rows + i) * cols;
        for (let j = cc * TILE_COLS; j < colEnd; j++) {
          const p = param[offset + j], u = updateAt(m, i, j, offset);
          const l = (j - cc * TILE_COLS) % REDUCE_LANES;
          paramLanes[l] += p * p;
          updateLanes[l] += u * u;
        }
      }
      tileSums[2 * k] = foldLanes(paramLanes);
      tileSums[2 * k + 1] = foldLanes(updateLanes);
      k++;
    });
    let paramSumSquares = 0, updateSumSquares = 0;
    for (let tile = 0; tile < k; tile++) {
      paramSumSquares += tileSums[2 * tile];
      updateSumSquares += tileSums[2 * tile + 1];
    }
    const factor = t.factor(paramSumSquares, updateSumSquares, param.length);

    // Pass 3: θ moved.
    for (let m = 0; m < matrices; m++) {
      for (let i = 0; i < rows; i++) {
        const offset = (m * rows + i) * cols;
        for (let j = 0; j < cols; j++) param[offset + j] = t.apply(param[offset + j], factor, updateAt(m, i, j, offset));
      }
    }
  },
});

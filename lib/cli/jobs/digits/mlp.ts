/**
 * A multi-layer perceptron classifier with hand-written backpropagation: dense layers, ReLU
 * between them, softmax cross-entropy on top. It is the model the examples train; it lives here,
 * beside them, because the library itself is about optimizers, not models.
 *
 *   h_0 = x
 *   z_l = h_{l-1} W_l^T + b_l          W_l is [out, in], row-major, as in PyTorch's nn.Linear
 *   h_l = relu(z_l)                    for every layer but the last
 *   loss = mean_r ( logsumexp(z_L[r]) - z_L[r][y_r] )
 *
 * Backward, with g_l = dloss/dz_l:
 *   g_L = (softmax(z_L) - onehot(y)) / batch
 *   dW_l = g_l^T h_{l-1},  db_l = sum_r g_l[r]
 *   g_{l-1} = (g_l W_l) * [z_{l-1} > 0]
 *
 * Every product is a plain loop whose innermost index walks contiguous memory in all arrays
 * it touches (a dot product of two rows forward; "row += scalar * row" backward), and rows of
 * g that ReLU zeroed are skipped. That trains the digits split (1437 × 64-128-64-10) for an
 * epoch in a fraction of a second.
 */
import { ErrorCodes, makeError } from '../../../errors';
import { createRng, mixSeed } from '../../../seeded_rng';
import { DType, Tensor } from '../../../tensor';
import { checkArray, checkNumber, checkObject, checkOptions, checkString, checkTensor } from '../../../validate';

/** Examples to learn from: `size` rows of x (row-major, size × inputs) and their class labels. */
export interface LabelledBatch {
  x: Tensor;
  y: ArrayLike<number>;
  size: number;
  /**
   * What forwardBackward divides the summed loss by; default `size` (the mean). A piece of a batch
   * shared by several ranks gives its share of the batch's mean instead: the batch's size over
   * the number of pieces, so that unequal pieces weigh as their examples do.
   */
  lossDivisor?: number;
}

export interface MlpOptions {
  /** Layer widths from input to output, e.g. [64, 128, 64, 10]: three dense layers. */
  sizes: number[];
  /** Seeds the weight initialisation. */
  seed: number;
  /** Element type of parameters, gradients and activations; default 'float32'. */
  dtype?: DType;
}

export interface Mlp {
  readonly sizes: readonly number[];
  readonly dtype: DType;
  /** [W1, b1, W2, b2, ...]; the optimizer updates these in place. */
  readonly params: Tensor[];
  /** Aligned with params; overwritten by each forwardBackward. */
  readonly grads: Tensor[];
  /** Names in PyTorch's style, aligned with params: layers.0.weight, layers.0.bias, ... */
  readonly paramNames: string[];
  /** Shapes aligned with params: [out, in] for weights, [out] for biases. */
  readonly paramShapes: number[][];
  /** Mean loss over the batch (the summed loss over `batch.lossDivisor`, when given), and its gradient written into `grads` (which it returns). */
  forwardBackward(batch: LabelledBatch, gradReady?: (index: number, grad: Tensor) => void): { loss: number; grads: Tensor[] };
  /** Mean loss over any number of examples, without gradients. */
  forward(data: LabelledBatch): number;
  /** The most likely class of each of the n rows of x. */
  predict(x: Tensor, n: number): Uint8Array;
  /** Fraction of the examples classified correctly. */
  accuracy(data: LabelledBatch): number;
}

/** Tag that gives the initialisation its own random stream from the user's seed. */
const INIT_STREAM = 3;
/** Rows per pass when evaluating without gradients, to bound the activation buffers. */
const EVAL_ROWS = 256;

export function createMlp(options: MlpOptions): Mlp {
  const opts = checkOptions('options', options, ['sizes', 'seed', 'dtype']);
  const sizes = checkArray('options.sizes', opts.sizes).map((s, i) => checkNumber(`options.sizes[${i}]`, s, { integer: true, min: 1 }));
  if (sizes.length < 2) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `options.sizes: expected at least an input and an output width, got [${sizes.join(', ')}]`);
  }
  if (sizes[sizes.length - 1] > 256) {
    throw makeError(ErrorCodes.OUT_OF_RANGE, `options.sizes: at most 256 classes (labels are bytes), got ${sizes[sizes.length - 1]}`);
  }
  const seed = checkNumber('options.seed', opts.seed, { integer: true });
  const dtype = opts.dtype === undefined ? 'float32' : checkString('options.dtype', opts.dtype, ['float32', 'float64'] as const);
  return new DenseReluMlp(sizes, seed, dtype);
}

class DenseReluMlp implements Mlp {
  readonly params: Tensor[] = [];
  readonly grads: Tensor[] = [];
  readonly paramNames: string[] = [];
  readonly paramShapes: number[][] = [];
  /** Outputs of each layer, [rows][sizes[l + 1]]: after ReLU for hidden layers, logits for the last. Grown on demand. */
  private outputs: Tensor[] = [];
  /** Gradients of the loss with respect to each layer's pre-activations, same shapes as outputs. */
  private outputGrads: Tensor[] = [];
  private rows = 0;

  constructor(
    readonly sizes: readonly number[],
    seed: number,
    readonly dtype: DType,
  ) {
    const rng = createRng(mixSeed(seed, INIT_STREAM));
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
      // He (Kaiming) normal initialisation: variance 2 / fan_in keeps the scale of ReLU
      // activations constant from layer to layer. Biases start at zero.
      const weight = this.allocate(fanOut * fanIn);
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < weight.length; i++) weight[i] = std * rng.normal();
      this.params.push(weight, this.allocate(fanOut));
      this.grads.push(this.allocate(fanOut * fanIn), this.allocate(fanOut));
      this.paramNames.push(`layers.${l}.weight`, `layers.${l}.bias`);
      this.paramShapes.push([fanOut, fanIn], [fanOut]);
    }
  }

  private get layerCount(): number {
    return this.sizes.length - 1;
  }

  private allocate(length: number): Tensor {
    return this.dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
  }

  /** Makes the activation buffers hold at least `rows` rows; they are reused across calls. */
  private reserve(rows: number): void {
    if (rows <= this.rows) return;
    this.outputs = this.sizes.slice(1).map((width) => this.allocate(rows * width));
    this.outputGrads = this.sizes.slice(1).map((width) => this.allocate(rows * width));
    this.rows = rows;
  }

  /** `gradReady(i, grads[i])` is called as each layer's gradients are done, last layer first (data-parallel overlap). */
  forwardBackward(batch: LabelledBatch, gradReady?: (index: number, grad: Tensor) => void): { loss: number; grads: Tensor[] } {
    const { x, y, size } = this.checkBatch('batch', batch);
    const divisor = batch.lossDivisor === undefined ? size : checkNumber('batch.lossDivisor', batch.lossDivisor, { min: 0, minExclusive: true });
    this.reserve(size);
    this.forwardRows(x, size);
    const loss = this.lossAndLogitGrads(y, 0, size, divisor) / divisor;
    this.backwardRows(x, size, gradReady);
    return { loss, grads: this.grads };
  }

  forward(data: LabelledBatch): number {
    const { x, y, size } = this.checkBatch('data', data);
    let total = 0;
    this.eachChunk(x, size, (chunkX, start, rows) => {
      this.forwardRows(chunkX, rows);
      total += this.lossAndLogitGrads(y, start, rows, 1);
    });
    return total / size;
  }

  predict(x: Tensor, n: number): Uint8Array {
    checkNumber('n', n, { integer: true, min: 0 });
    this.checkInputs('x', checkTensor('x', x), n);
    const labels = new Uint8Array(n);
    const classes = this.sizes[this.layerCount];
    this.eachChunk(x, n, (chunkX, start, rows) => {
      const logits = this.forwardRows(chunkX, rows);
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
        labels[start + r] = best;
      }
    });
    return labels;
  }

  accuracy(data: LabelledBatch): number {
    const { x, y, size } = this.checkBatch('data', data);
    const predicted = this.predict(x, size);
    let correct = 0;
    for (let i = 0; i < size; i++) if (predicted[i] === y[i]) correct++;
    return correct / size;
  }

  /** Runs `pass` over consecutive chunks of at most EVAL_ROWS rows of x. */
  private eachChunk(x: Tensor, size: number, pass: (chunkX: Tensor, start: number, rows: number) => void): void {
    const inputs = this.sizes[0];
    this.reserve(Math.min(size, EVAL_ROWS));
    for (let start = 0; start < size; start += EVAL_ROWS) {
      const rows = Math.min(EVAL_ROWS, size - start);
      pass(x.subarray(start * inputs, (start + rows) * inputs), start, rows);
    }
  }

  /** Fills outputs[l] for the first `rows` rows of x; returns the logits buffer. */
  private forwardRows(x: Tensor, rows: number): Tensor {
    let input: Tensor = x;
    for (let l = 0; l < this.layerCount; l++) {
      const inN = this.sizes[l];
      const outN = this.sizes[l + 1];
      const weight = this.params[2 * l];
      const bias = this.params[2 * l + 1];
      const output = this.outputs[l];
      const relu = l + 1 < this.layerCount;
      for (let r = 0; r < rows; r++) {
        const inRow = r * inN;
        for (let j = 0; j < outN; j++) {
          const wRow = j * inN;
          let z = bias[j];
          for (let k = 0; k < inN; k++) z += input[inRow + k] * weight[wRow + k];
          output[r * outN + j] = relu && z < 0 ? 0 : z;
        }
      }
      input = output;
    }
    return this.outputs[this.layerCount - 1];
  }

  /**
   * The summed cross-entropy of `rows` rows of logits against y[start..], computed stably as
   * logsumexp(z) - z[y] with the maximum subtracted first. Also writes the logits' gradient,
   * (softmax(z) - onehot(y)) / divisor, for backwardRows.
   */
  private lossAndLogitGrads(y: ArrayLike<number>, start: number, rows: number, divisor: number): number {
    const classes = this.sizes[this.layerCount];
    const logits = this.outputs[this.layerCount - 1];
    const grad = this.outputGrads[this.layerCount - 1];
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const row = r * classes;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, logits[row + c]);
      let sumExp = 0;
      for (let c = 0; c < classes; c++) sumExp += Math.exp(logits[row + c] - max);
      const label = y[start + r];
      total += max + Math.log(sumExp) - logits[row + label];
      for (let c = 0; c < classes; c++) {
        grad[row + c] = (Math.exp(logits[row + c] - max) / sumExp - (c === label ? 1 : 0)) / divisor;
      }
    }
    return total;
  }

  /** Writes grads from outputGrads of the last layer, propagating down to the first. */
  private backwardRows(x: Tensor, rows: number, gradReady?: (index: number, grad: Tensor) => void): void {
    for (let l = this.layerCount - 1; l >= 0; l--) {
      const inN = this.sizes[l];
      const outN = this.sizes[l + 1];
      const input = l === 0 ? x : this.outputs[l - 1];
      const g = this.outputGrads[l];
      const weight = this.params[2 * l];
      const dWeight = this.grads[2 * l];
      const dBias = this.grads[2 * l + 1];
      dWeight.fill(0);
      dBias.fill(0);
      // dW[j][:] += g[r][j] * h[r][:]; db[j] += g[r][j]
      for (let r = 0; r < rows; r++) {
        const inRow = r * inN;
        for (let j = 0; j < outN; j++) {
          const gj = g[r * outN + j];
          if (gj === 0) continue;
          dBias[j] += gj;
          const wRow = j * inN;
          for (let k = 0; k < inN; k++) dWeight[wRow + k] += gj * input[inRow + k];
        }
      }
      gradReady?.(2 * l, dWeight);
      gradReady?.(2 * l + 1, dBias);
      if (l === 0) break; // nothing below the input needs a gradient
      // g_{l-1}[r][:] = (sum_j g[r][j] * W[j][:]) where the ReLU let the input through (h > 0 iff z > 0)
      const below = this.outputGrads[l - 1];
      for (let r = 0; r < rows; r++) {
        const inRow = r * inN;
        below.fill(0, inRow, inRow + inN);
        for (let j = 0; j < outN; j++) {
          const gj = g[r * outN + j];
          if (gj === 0) continue;
          const wRow = j * inN;
          for (let k = 0; k < inN; k++) below[inRow + k] += gj * weight[wRow + k];
        }
        for (let k = 0; k < inN; k++) if (!(input[inRow + k] > 0)) below[inRow + k] = 0;
      }
    }
  }

  /** A mean over no examples is undefined, so every method that takes labelled examples needs at least one. */
  private checkBatch(name: string, batch: LabelledBatch): { x: Tensor; y: ArrayLike<number>; size: number } {
    const b = checkObject(name, batch);
    const size = checkNumber(`${name}.size`, b.size, { integer: true, min: 1 });
    const x = checkTensor(`${name}.x`, b.x);
    this.checkInputs(`${name}.x`, x, size);
    const y = b.y as ArrayLike<number>;
    if (y === null || typeof y !== 'object' || y.length !== size) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}.y: expected ${size} labels, got ${y === null || typeof y !== 'object' ? String(y) : y.length}`);
    }
    const classes = this.sizes[this.layerCount];
    for (let i = 0; i < size; i++) {
      if (!(Number.isInteger(y[i]) && y[i] >= 0 && y[i] < classes)) {
        throw makeError(ErrorCodes.OUT_OF_RANGE, `${name}.y[${i}]: expected a class in [0, ${classes - 1}], got ${y[i]}`);
      }
    }
    return { x, y, size };
  }

  private checkInputs(name: string, x: Tensor, rows: number): void {
    const expected = rows * this.sizes[0];
    if (x.length !== expected) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}: expected ${rows} rows of ${this.sizes[0]} features (${expected} values), got ${x.length}`);
    }
  }
}

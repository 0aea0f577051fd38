/**
 * The shape of a factored param (Adafactor's): its elements as `matrices`
 * row-major matrices of `rows` × `cols`, with a statistic per row and per
 * column of each. The twin of native/drivers/factored_shape.h: the shape follows from
 * the three lengths a kernel call carries (n = m·r·c, row statistics m·r,
 * column statistics m·c; n / (m·c) = r, then m and c), so no shape crosses
 * into the addon and checking the lengths is checking the shape.
 */
export interface FactoredShape {
  readonly matrices: number;
  readonly rows: number;
  readonly cols: number;
}

/** The shape whose lengths these are, or null when there is none (an empty param: only (0, 0) fits). */
export function factoredShape(length: number, rowStats: number, colStats: number): FactoredShape | null {
  if (length === 0) return rowStats === 0 && colStats === 0 ? { matrices: 0, rows: 0, cols: 0 } : null;
  if (rowStats === 0 || colStats === 0 || length % colStats !== 0) return null;
  const rows = length / colStats;
  if (rowStats % rows !== 0) return null;
  const matrices = rowStats / rows;
  if (colStats % matrices !== 0) return null;
  const cols = colStats / matrices;
  return matrices * rows * cols === length ? { matrices, rows, cols } : null;
}

/**
 * A user's shape (PyTorch's: the last two dimensions are the matrix, the
 * leading ones a batch of matrices) as the factored shape, or null for one of
 * rank below 2 or with no elements, which keeps a full second moment.
 */
export function matricesOf(shape: readonly number[] | null): FactoredShape | null {
  if (shape === null || shape.length < 2) return null;
  const rows = shape[shape.length - 2], cols = shape[shape.length - 1];
  const matrices = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return matrices * rows * cols === 0 ? null : { matrices, rows, cols };
}

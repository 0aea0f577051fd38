// The shape of a factored param (Adafactor's): its elements seen as
// `matrices` row-major matrices of `rows` × `cols` (PyTorch factors the last
// two dimensions; the leading ones are a batch of matrices), with one row
// statistic per row and one column statistic per column of each matrix.
//
// The shape is not passed to the addon: it follows from the three lengths a
// call carries, n = m·r·c, row statistics m·r, column statistics m·c, and is
// unique, since n / (m·c) = r, then m = (m·r) / r and c = (m·c) / m. So the
// lengths the TypeScript side allocated from the user's shape are all the
// native side needs, and checking that they fit is checking the shape.
// lib/kernels/factored_shape.ts is the TypeScript twin.
#pragma once
#include <cstddef>

namespace fusedoptim {

struct FactoredShape {
  std::size_t matrices = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

// The shape whose lengths are these, or false when there is none. An empty
// param has no rows or columns to keep statistics for: only (0, 0, 0) fits it.
inline bool factored_shape(std::size_t length, std::size_t row_stats, std::size_t col_stats, FactoredShape* out) {
  if (length == 0) {
    *out = FactoredShape{};
    return row_stats == 0 && col_stats == 0;
  }
  if (row_stats == 0 || col_stats == 0 || length % col_stats != 0) return false;
  const std::size_t rows = length / col_stats;
  if (row_stats % rows != 0) return false;
  const std::size_t matrices = row_stats / rows;
  if (col_stats % matrices != 0) return false;
  const std::size_t cols = col_stats / matrices;
  if (matrices * rows * cols != length) return false;
  *out = FactoredShape{matrices, rows, cols};
  return true;
}

}  // namespace fusedoptim

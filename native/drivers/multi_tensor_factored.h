// Factored updates, Adafactor's for params of matrix shape: one native call,
// three passes over each param's matrices (TensorBatch::dims gives every
// tensor's matrices × rows × cols, from factored_shape.h):
//
//   pass 1, statistics: the sums of G² over each row and each column;
//   between: the kernel turns them into the row and column statistics and
//            each matrix's row mean (Kernel::statistic, Kernel::row_mean);
//   pass 2, sums: Σθ² and ΣU² per tensor; between: the tensor's factor
//            (Kernel::tensor_factor: Adafactor's α / max(1, RMS(U)/d));
//   pass 3, update: θ moved by its tensor's factor (Kernel::apply).
//
// Each pass walks fixed tiles of kTileRows × kTileCols elements of a matrix,
// cut the same for any thread count, and every sum has an order fixed by the
// shape alone: a row sums its tile segments in kReduceLanes lanes merged by a
// halving tree, then the segments left to right; a column sums down a tile's
// rows one by one, then the tiles top to bottom; Σθ² and ΣU² sum a tile in
// lanes (element j of a row in lane j mod kReduceLanes), then the tiles in
// order. The merges run on one thread. So the results do not depend on
// threads or vector width, and lib/kernels/adafactor.ts reproduces them.
#pragma once
#include <cstddef>
#include "kernels/kernel_namespace.h"
#include "kernels/lane_sums.h"
#include "multi_tensor.h"
#include "reduce_kind.h"
#include "scratch.h"
#include "tensor_batch.h"

FUSEDOPTIM_KERNELS_BEGIN

// Tiles are 64 rows by 4096 columns: the column partial sums (one per tile
// row-chunk and column) then take 1/64 and the row partial sums 1/4096 of the
// param's element count in doubles, and a tile is 256 Ki elements of work.
constexpr std::size_t kTileRows = 64;
constexpr std::size_t kTileCols = 4096;

// One tensor's matrices cut into tiles, and where its sums live in the scratch.
struct FactoredGrid {
  std::size_t matrices, rows, cols;
  std::size_t row_chunks, col_chunks;  // tiles down and across a matrix
  std::size_t first_tile;              // tiles of earlier tensors
  std::size_t row_partials;            // offset of its matrices·rows·col_chunks row partial sums (none with one column tile)
  std::size_t col_partials;            // offset of its matrices·row_chunks·cols column partial sums
  std::size_t first_matrix;            // offset of its row means (one per matrix)

  std::size_t tiles() const { return matrices * row_chunks * col_chunks; }
  // A row within one column tile has its whole sum in pass 1, and its
  // statistic is written there: no partial sums to keep (a tall, narrow
  // matrix would otherwise need one double per row).
  std::size_t row_partial_count() const { return col_chunks > 1 ? matrices * rows * col_chunks : 0; }
  std::size_t col_partial_count() const { return matrices * row_chunks * cols; }
};

// The grid of a tensor of (matrices, rows, cols) `dims`, its scratch offsets not yet set.
inline FactoredGrid grid_of(const std::size_t* dims) {
  FactoredGrid g{};
  g.matrices = dims[0];
  g.rows = dims[1];
  g.cols = dims[2];
  g.row_chunks = (g.rows + kTileRows - 1) / kTileRows;
  g.col_chunks = (g.cols + kTileCols - 1) / kTileCols;
  return g;
}

// Tile `k` of a grid: its matrix, rows [row_begin, row_end), columns [col_begin, col_end).
struct Tile {
  std::size_t matrix, row_chunk, col_chunk, row_begin, row_end, col_begin, col_end;
};

inline Tile tile_at(const FactoredGrid& g, std::size_t k) {
  Tile t;
  t.matrix = k / (g.row_chunks * g.col_chunks);
  t.row_chunk = (k / g.col_chunks) % g.row_chunks;
  t.col_chunk = k % g.col_chunks;
  t.row_begin = t.row_chunk * kTileRows;
  t.row_end = t.row_begin + kTileRows < g.rows ? t.row_begin + kTileRows : g.rows;
  t.col_begin = t.col_chunk * kTileCols;
  t.col_end = t.col_begin + kTileCols < g.cols ? t.col_begin + kTileCols : g.cols;
  return t;
}

// visit(tensor, tile) for the global tiles [first, last).
template <typename Visit>
inline void visit_tiles(const FactoredGrid* grids, std::size_t count, std::size_t first, std::size_t last, Visit& visit) {
  if (first >= last) return;
  std::size_t t = find_index(count, first, [grids](std::size_t i) { return grids[i].first_tile; });
  for (std::size_t k = first; k < last; ++k) {
    while (grids[t].first_tile + grids[t].tiles() <= k) ++t;
    visit(t, tile_at(grids[t], k - grids[t].first_tile));
  }
}

// visit over every tile of the batch, the tiles claimed by the team (team.h).
template <typename Visit>
inline void for_each_tile(const FactoredGrid* grids, const TensorBatch& b, std::size_t tiles, int threads, Visit visit) {
  auto chunk = [&](std::size_t first, std::size_t last) { visit_tiles(grids, b.count, first, last, visit); };
  share_out(tiles, 1, b.total, threads, TeamOptions::for_kernels(), chunk);
}

template <class Kernel, typename P, typename S>
void apply_factored(const TensorBatch& b, const double* raw_scalars, int threads) {
  using T = typename Kernel::T;
  const typename Kernel::Scalars scalars(raw_scalars);
  const T eps1_squared = Kernel::eps1_squared(scalars);

  // Scratch: the grids, then (in doubles) the row partials, column partials,
  // two sums per tile, a row mean per matrix and a factor per tensor.
  std::size_t tiles = 0, row_partials = 0, col_partials = 0, matrices = 0;
  for (std::size_t t = 0; t < b.count; ++t) {
    const FactoredGrid g = grid_of(b.dims + 3 * t);
    tiles += g.tiles();
    row_partials += g.row_partial_count();
    col_partials += g.col_partial_count();
    matrices += g.matrices;
  }
  const std::size_t grid_bytes = (sizeof(FactoredGrid) * b.count + sizeof(double) - 1) / sizeof(double) * sizeof(double);
  char* scratch = static_cast<char*>(
      thread_scratch(grid_bytes + sizeof(double) * (row_partials + col_partials + 2 * tiles + matrices + b.count)));
  FactoredGrid* grids = reinterpret_cast<FactoredGrid*>(scratch);
  double* row_sums = reinterpret_cast<double*>(scratch + grid_bytes);
  double* col_sums = row_sums + row_partials;
  double* tile_sums = col_sums + col_partials;
  double* means = tile_sums + 2 * tiles;
  double* factors = means + matrices;
  {
    std::size_t tile = 0, row = 0, col = 0, matrix = 0;
    for (std::size_t t = 0; t < b.count; ++t) {
      FactoredGrid& g = grids[t] = grid_of(b.dims + 3 * t);
      g.first_tile = tile;
      g.row_partials = row;
      g.col_partials = col;
      g.first_matrix = matrix;
      tile += g.tiles();
      row += g.row_partial_count();
      col += g.col_partial_count();
      matrix += g.matrices;
    }
  }
  auto buffer = [&](std::size_t t, int slot) { return b.buffers[t * b.slots + slot]; };

  // Pass 1: per tile, each row's sum of G² over the tile's columns, and each
  // column's over the tile's rows.
  for_each_tile(grids, b, tiles, threads, [&](std::size_t t, const Tile& tile) {
    const FactoredGrid& g = grids[t];
    const P* __restrict grad = static_cast<const P*>(buffer(t, 1));
    S* row_var = static_cast<S*>(buffer(t, 2));
    double* __restrict col = col_sums + g.col_partials + (tile.matrix * g.row_chunks + tile.row_chunk) * g.cols;
    for (std::size_t j = tile.col_begin; j < tile.col_end; ++j) col[j] = 0.0;
    for (std::size_t i = tile.row_begin; i < tile.row_end; ++i) {
      const P* __restrict row = grad + (tile.matrix * g.rows + i) * g.cols;
      double lanes[kReduceLanes];
      for (int l = 0; l < kReduceLanes; ++l) lanes[l] = 0.0;
      std::size_t j = tile.col_begin;
      for (; j + kReduceLanes <= tile.col_end; j += kReduceLanes) {
#pragma omp simd
        for (int l = 0; l < kReduceLanes; ++l) {
          const double x = Kernel::squared_gradient(scalars, row[j + l]);
          lanes[l] = lanes[l] + x;
          col[j + l] = col[j + l] + x;
        }
      }
      for (int l = 0; j + l < tile.col_end; ++l) {
        const double x = Kernel::squared_gradient(scalars, row[j + l]);
        lanes[l] = lanes[l] + x;
        col[j + l] = col[j + l] + x;
      }
      const double sum = fold_lanes(lanes);
      if (g.col_chunks == 1) {
        // The whole row's sum (0 + sum, as the merge below would give it).
        S& r = row_var[tile.matrix * g.rows + i];
        r = Kernel::statistic(scalars, r, sum, g.cols);
      } else {
        row_sums[g.row_partials + (tile.matrix * g.rows + i) * g.col_chunks + tile.col_chunk] = sum;
      }
    }
  });

  // Between: the statistics, and each matrix's row mean.
  for (std::size_t t = 0; t < b.count; ++t) {
    const FactoredGrid& g = grids[t];
    S* row_var = static_cast<S*>(buffer(t, 2));
    S* col_var = static_cast<S*>(buffer(t, 3));
    for (std::size_t m = 0; m < g.matrices; ++m) {
      double row_total = 0.0;
      for (std::size_t i = 0; i < g.rows; ++i) {
        S& r = row_var[m * g.rows + i];
        if (g.col_chunks > 1) {
          const double* partial = row_sums + g.row_partials + (m * g.rows + i) * g.col_chunks;
          double sum = 0.0;
          for (std::size_t c = 0; c < g.col_chunks; ++c) sum = sum + partial[c];
          r = Kernel::statistic(scalars, r, sum, g.cols);
        }
        row_total = row_total + double(r);
      }
      // Each column's partials, top to bottom, added into the first tile row's
      // (row by row, so the reads are sequential; the same order of additions).
      double* col_total = col_sums + g.col_partials + m * g.row_chunks * g.cols;
      for (std::size_t r = 1; r < g.row_chunks; ++r) {
        const double* partial = col_total + r * g.cols;
        for (std::size_t j = 0; j < g.cols; ++j) col_total[j] = col_total[j] + partial[j];
      }
      for (std::size_t j = 0; j < g.cols; ++j) {
        S& c = col_var[m * g.cols + j];
        c = Kernel::statistic(scalars, c, col_total[j], g.rows);
      }
      means[g.first_matrix + m] = double(Kernel::row_mean(scalars, row_total, g.rows));
    }
  }

  // Pass 2: per tile, Σθ² and ΣU².
  for_each_tile(grids, b, tiles, threads, [&](std::size_t t, const Tile& tile) {
    const FactoredGrid& g = grids[t];
    const P* __restrict param = static_cast<const P*>(buffer(t, 0));
    const P* __restrict grad = static_cast<const P*>(buffer(t, 1));
    const S* __restrict row_var = static_cast<const S*>(buffer(t, 2)) + tile.matrix * g.rows;
    const S* __restrict col_var = static_cast<const S*>(buffer(t, 3)) + tile.matrix * g.cols;
    const T mean = T(means[g.first_matrix + tile.matrix]);
    double param_lanes[kReduceLanes], update_lanes[kReduceLanes];
    for (int l = 0; l < kReduceLanes; ++l) param_lanes[l] = update_lanes[l] = 0.0;
    for (std::size_t i = tile.row_begin; i < tile.row_end; ++i) {
      const std::size_t offset = (tile.matrix * g.rows + i) * g.cols;
      const T row = Kernel::scaled_row(row_var[i], mean);
      auto add = [&](std::size_t j, int l) {
        const double p = double(param[offset + j]);
        const double u = double(Kernel::update(scalars, grad[offset + j], eps1_squared, row, col_var[j]));
        param_lanes[l] = param_lanes[l] + p * p;
        update_lanes[l] = update_lanes[l] + u * u;
      };
      std::size_t j = tile.col_begin;
      for (; j + kReduceLanes <= tile.col_end; j += kReduceLanes) {
#pragma omp simd
        for (int l = 0; l < kReduceLanes; ++l) add(j + l, l);
      }
      for (int l = 0; j + l < tile.col_end; ++l) add(j + l, l);
    }
    const std::size_t k = g.first_tile + (tile.matrix * g.row_chunks + tile.row_chunk) * g.col_chunks + tile.col_chunk;
    tile_sums[2 * k] = fold_lanes(param_lanes);
    tile_sums[2 * k + 1] = fold_lanes(update_lanes);
  });

  // Between: each tensor's factor, its tiles' sums merged in order.
  for (std::size_t t = 0; t < b.count; ++t) {
    const FactoredGrid& g = grids[t];
    double param_sum = 0.0, update_sum = 0.0;
    for (std::size_t k = g.first_tile; k < g.first_tile + g.tiles(); ++k) {
      param_sum = param_sum + tile_sums[2 * k];
      update_sum = update_sum + tile_sums[2 * k + 1];
    }
    factors[t] = double(Kernel::tensor_factor(scalars, param_sum, update_sum, b.lengths[t]));
  }

  // Pass 3: θ moved, U recomputed from the same statistics (the same bits as pass 2).
  for_each_tile(grids, b, tiles, threads, [&](std::size_t t, const Tile& tile) {
    const FactoredGrid& g = grids[t];
    P* __restrict param = static_cast<P*>(buffer(t, 0));
    const P* __restrict grad = static_cast<const P*>(buffer(t, 1));
    const S* __restrict row_var = static_cast<const S*>(buffer(t, 2)) + tile.matrix * g.rows;
    const S* __restrict col_var = static_cast<const S*>(buffer(t, 3)) + tile.matrix * g.cols;
    const T mean = T(means[g.first_matrix + tile.matrix]);
    const T factor = T(factors[t]);
    for (std::size_t i = tile.row_begin; i < tile.row_end; ++i) {
      const std::size_t offset = (tile.matrix * g.rows + i) * g.cols;
      const T row = Kernel::scaled_row(row_var[i], mean);
#pragma omp simd
      for (std::size_t j = tile.col_begin; j < tile.col_end; ++j) {
        const T u = Kernel::update(scalars, grad[offset + j], eps1_squared, row, col_var[j]);
        param[offset + j] = Kernel::apply(scalars, param[offset + j], factor, u);
      }
    }
  });
}

FUSEDOPTIM_KERNELS_END

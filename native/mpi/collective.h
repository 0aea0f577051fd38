// A collective over a list of tensors, in place, in fused buckets.
//
// Each element type's tensors are treated as one flat vector (float32, then
// float64, then the 16-bit and 8-bit ones), cut into chunks of at most `bucket_bytes`: a chunk inside one
// tensor is communicated where it lies, a chunk spanning several small tensors
// is packed into a bucket first and unpacked after. Shards (reduce-scatter,
// all-gather) are ranges of that flat vector, shard_range() below, and may cut
// through tensors, as DeepSpeed's flat partitions do.
//
// `deterministic` replaces MPI's reductions, whose summation order is MPI's
// choice, by an all-to-all of the shards and a sum in rank order on the rank
// that owns each shard: the same bits on every rank and on every run.
//
// Uint16Array and Uint8Array tensors (bfloat16 and 8-bit optimizer state) are
// bits, not numbers: they move (broadcast, all-gather) but are never reduced.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>
#include <vector>

#include "boundary/args.h"

namespace fusedoptim::mpi {

enum class CollectiveKind : int { kAllReduce = 0, kBroadcast = 1, kReduceScatter = 2, kAllGather = 3 };
enum class ReduceOp : int { kSum = 0, kMean = 1, kMax = 2 };

// [begin, end) of rank `r`'s shard of `total` elements split over `size` ranks:
// the first total % size ranks get one element more.
struct ShardRange {
  std::size_t begin;
  std::size_t end;
};
ShardRange shard_range(std::size_t total, int r, int size);

struct CollectiveJob {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  bool deterministic = false;
  std::size_t bucket_bytes = 0;
  double stall_seconds = 0;
  std::string what;
  ResolvedBatch f32, f64, u16, u8;
  std::vector<double> fingerprint;
  // Set by run(): every rank's fingerprint, when they disagree (nothing was communicated).
  std::vector<double> mismatch;

  void run();
  // undefined when the collective ran; else the Float64Array of every rank's fingerprint.
  Napi::Value result(Napi::Env env) const;
};

// collective(kind, op, root, deterministic, bucketBytes, stallSeconds, f32s, f64s, u16s, u8s, fingerprint, what)
Napi::Value Collective(const Napi::CallbackInfo& info);
Napi::Value CollectiveAsync(const Napi::CallbackInfo& info);

}  // namespace fusedoptim::mpi

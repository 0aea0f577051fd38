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
//
// `compression` (all-reduce of float32 only) sends each chunk in 16 bits
// (half.h): every rank rounds its values, receives every rank's copy of its
// shard, widens and sums them in float32 in rank order, rounds the sum and
// all-gathers it; every rank widens the same bits (so the result is the same on
// every rank, `deterministic` or not). With `residuals` (error feedback, one
// float32 array per tensor) each value first adds the rounding error its rank
// made on it last time, and keeps the new one: x = g + e, e = x - widen(round(x)).
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>
#include <vector>

#include "boundary/args.h"
#include "half.h"
#include "reduce_op.h"

namespace fusedoptim::mpi {

enum class CollectiveKind : int { kAllReduce = 0, kBroadcast = 1, kReduceScatter = 2, kAllGather = 3 };

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
  Compression compression = Compression::kNone;
  ResolvedBatch f32, f64, u16, u8;
  // Error feedback: one float32 array per f32 tensor, of its length; else empty.
  ResolvedBatch residuals;
  std::vector<double> fingerprint;
  // Set by run(): every rank's fingerprint, when they disagree (nothing was communicated).
  std::vector<double> mismatch;
  // Set by run(): a rank this one waited for and found gone (nothing was communicated), else -1.
  int lost = -1;

  void run();
  // True when the ranks did not communicate: they disagreed, or one is gone.
  bool failed() const { return !mismatch.empty() || lost >= 0; }
  // undefined when the collective ran; the Float64Array of every rank's fingerprint when they
  // disagreed; { lostRank, pid } when a rank is gone (pid: its process on this machine).
  Napi::Value result(Napi::Env env) const;
};

// Reads a collective's arguments (collective() below); `owners` (for a call
// that outlives this one) receives one Array of every typed array it points into.
CollectiveJob read_job(const Napi::CallbackInfo& info, Napi::Array* owners);

// collective(kind, op, root, deterministic, bucketBytes, stallSeconds, f32s, f64s, u16s, u8s, fingerprint, what,
//            compression, residuals)
Napi::Value Collective(const Napi::CallbackInfo& info);
Napi::Value CollectiveAsync(const Napi::CallbackInfo& info);

// encodeHalf(compression, Float32Array, Uint16Array) and decodeHalf(compression, Uint16Array, Float32Array):
// the conversions of half.h over whole arrays, for the tests against their TypeScript twins.
Napi::Value EncodeHalf(const Napi::CallbackInfo& info);
Napi::Value DecodeHalf(const Napi::CallbackInfo& info);
// halfArraysIsa(): the instruction set those conversions and the compressed all-reduce's loops run on (half_arrays.h).
Napi::Value HalfArraysIsa(const Napi::CallbackInfo& info);

// Throws ERR_MPI_NOT_AVAILABLE unless MPI allows calls from a thread other than the main one.
void require_thread_serialized(Napi::Env env);

}  // namespace fusedoptim::mpi

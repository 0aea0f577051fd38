#include "collective.h"

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "boundary/async_call.h"
#include "fingerprint.h"
#include "half_arrays.h"
#include "world.h"

namespace fusedoptim::mpi {

ShardRange shard_range(std::size_t total, int r, int size) {
  const std::size_t base = total / std::size_t(size), extra = total % std::size_t(size);
  const auto start = [&](std::size_t k) { return k * base + std::min(k, extra); };
  return {start(std::size_t(r)), start(std::size_t(r) + 1)};
}

namespace {

template <typename T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <> MPI_Datatype mpi_type<std::uint16_t>() { return MPI_UINT16_T; }
template <> MPI_Datatype mpi_type<std::uint8_t>() { return MPI_UINT8_T; }

// Scratch buffers, reused by every call: collectives run one at a time
// (lib/distributed queues them), so one set per process is enough.
struct Scratch {
  std::vector<unsigned char> bucket, received, packed;
  std::vector<int> counts, displs, recv_counts, recv_displs;
};
Scratch& scratch() {
  static Scratch s;
  return s;
}

template <typename T>
T* scratch_of(std::vector<unsigned char>& bytes, std::size_t n) {
  if (bytes.size() < n * sizeof(T)) bytes.resize(n * sizeof(T));
  return reinterpret_cast<T*>(bytes.data());
}

// One step of a reduction in rank order: acc (ranks 0..r-1) with rank r's x. max keeps a NaN.
template <typename T>
T combine(ReduceOp op, T acc, T x) {
  return op == ReduceOp::kMax ? (acc != acc || acc > x ? acc : x) : acc + x;
}

// One chunk [a, a + n) of a flat vector of `total` elements, held at `data`.
template <typename T>
class Chunk {
 public:
  Chunk(T* data, std::size_t a, std::size_t n, std::size_t total) : data_(data), a_(a), n_(n), total_(total) {}

  void all_reduce(ReduceOp op, bool deterministic) {
    if (deterministic) {
      reduce_scatter(op, true);
      all_gather();
      return;
    }
    MPI_Allreduce(MPI_IN_PLACE, data_, int(n_), mpi_type<T>(), op == ReduceOp::kMax ? MPI_MAX : MPI_SUM, world().data);
    if (op == ReduceOp::kMean) divide(data_, n_);
  }

  void broadcast(int root) { MPI_Bcast(data_, int(n_), mpi_type<T>(), root, world().data); }

  // This rank's part of the chunk receives the reduction of every rank's.
  void reduce_scatter(ReduceOp op, bool deterministic) {
    const World& w = world();
    Scratch& s = scratch();
    const int mine = split_by_shard();
    T* own = data_ + s.displs[std::size_t(w.rank)];
    if (!deterministic) {
      T* received = scratch_of<T>(s.received, std::size_t(std::max(mine, 1)));
      MPI_Reduce_scatter(data_, received, s.counts.data(), mpi_type<T>(), op == ReduceOp::kMax ? MPI_MAX : MPI_SUM, w.data);
      std::memcpy(own, received, std::size_t(mine) * sizeof(T));
      if (op == ReduceOp::kMean) divide(own, std::size_t(mine));
      return;
    }
    // Every rank's copy of this rank's part, side by side in rank order ...
    receive_side_by_side(mine);
    T* received = scratch_of<T>(s.received, std::max<std::size_t>(std::size_t(mine) * std::size_t(w.size), 1));
    MPI_Alltoallv(data_, s.counts.data(), s.displs.data(), mpi_type<T>(), received, s.recv_counts.data(), s.recv_displs.data(),
                  mpi_type<T>(), w.data);
    // ... combined in rank order: ((x0 + x1) + x2) + ..., whatever MPI's algorithm.
    for (int i = 0; i < mine; ++i) {
      T acc = received[i];
      for (int r = 1; r < w.size; ++r) acc = combine(op, acc, received[std::size_t(r) * std::size_t(mine) + std::size_t(i)]);
      own[i] = acc;
    }
    if (op == ReduceOp::kMean) divide(own, std::size_t(mine));
  }

  // all_reduce with every value sent in 16 bits (collective.h): the deterministic
  // reduce-scatter and all-gather over the rounded values, the sum in float32.
  void all_reduce_compressed(const HalfArrays& loops, ReduceOp op) {
    const World& w = world();
    Scratch& s = scratch();
    const int mine = split_by_shard();
    std::uint16_t* packed = scratch_of<std::uint16_t>(s.packed, std::max<std::size_t>(n_, 1));
    loops.encode(data_, packed, n_);
    receive_side_by_side(mine);
    std::uint16_t* received = scratch_of<std::uint16_t>(s.received, std::max<std::size_t>(std::size_t(mine) * std::size_t(w.size), 1));
    MPI_Alltoallv(packed, s.counts.data(), s.displs.data(), MPI_UINT16_T, received, s.recv_counts.data(), s.recv_displs.data(),
                  MPI_UINT16_T, w.data);
    reduce_received(loops, op, received, w.size, std::size_t(mine), packed + s.displs[std::size_t(w.rank)]);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, packed, s.counts.data(), s.displs.data(), MPI_UINT16_T, w.data);
    loops.decode(packed, data_, n_);
  }

  // Every rank's part of the chunk, from that rank.
  void all_gather() {
    split_by_shard();
    Scratch& s = scratch();
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data_, s.counts.data(), s.displs.data(), mpi_type<T>(), world().data);
  }

 private:
  // recv_counts, recv_displs of an all-to-all that receives `mine` elements from every rank, in rank order.
  static void receive_side_by_side(int mine) {
    const World& w = world();
    Scratch& s = scratch();
    s.recv_counts.assign(std::size_t(w.size), mine);
    s.recv_displs.resize(std::size_t(w.size));
    for (int r = 0; r < w.size; ++r) s.recv_displs[std::size_t(r)] = r * mine;
  }

  // counts[r], displs[r]: where rank r's shard meets this chunk; returns this rank's count.
  int split_by_shard() {
    const World& w = world();
    Scratch& s = scratch();
    s.counts.resize(std::size_t(w.size));
    s.displs.resize(std::size_t(w.size));
    for (int r = 0; r < w.size; ++r) {
      const ShardRange shard = shard_range(total_, r, w.size);
      const std::size_t begin = std::clamp(shard.begin, a_, a_ + n_), end = std::clamp(shard.end, a_, a_ + n_);
      s.counts[std::size_t(r)] = int(end - begin);
      s.displs[std::size_t(r)] = int(begin - a_);
    }
    return s.counts[std::size_t(w.rank)];
  }

  static void divide(T* x, std::size_t n) {
    const T ranks = T(world().size);
    for (std::size_t i = 0; i < n; ++i) x[i] = x[i] / ranks;
  }

  T* data_;
  std::size_t a_, n_, total_;
};

// Runs the job's collective over one element type's tensors, bucket by bucket.
template <typename T>
void run_flat(const CollectiveJob& job, const ResolvedBatch& batch) {
  const std::size_t tensors = batch.buffers.size();
  if (tensors == 0) return;
  const std::size_t total = batch.element_prefix.back();
  const std::size_t bucket = std::max<std::size_t>(1, job.bucket_bytes / sizeof(T));
  std::size_t t = 0;  // the tensor where the chunk starts
  for (std::size_t a = 0; a < total;) {
    while (batch.element_prefix[t + 1] <= a) ++t;
    const std::size_t n = std::min(bucket, total - a);
    const bool inside = a + n <= batch.element_prefix[t + 1];
    T* data;
    if (inside) {
      data = static_cast<T*>(batch.buffers[t]) + (a - batch.element_prefix[t]);
    } else {
      data = scratch_of<T>(scratch().bucket, n);
      for (std::size_t k = t, at = a; at < a + n; ++k) {
        const std::size_t from = at - batch.element_prefix[k];
        const std::size_t take = std::min(batch.element_prefix[k + 1], a + n) - at;
        std::memcpy(data + (at - a), static_cast<T*>(batch.buffers[k]) + from, take * sizeof(T));
        at += take;
      }
    }
    Chunk<T> chunk(data, a, n, total);
    switch (job.kind) {
      case CollectiveKind::kBroadcast: chunk.broadcast(job.root); break;
      case CollectiveKind::kAllGather: chunk.all_gather(); break;
      // Bits are never reduced (read_job refuses it): no reduction is compiled for them.
      case CollectiveKind::kAllReduce:
        if constexpr (std::is_same_v<T, float>) {
          if (job.compression != Compression::kNone) chunk.all_reduce_compressed(half_arrays(job.compression), job.op);
          else chunk.all_reduce(job.op, job.deterministic);
        } else if constexpr (std::is_floating_point_v<T>) {
          chunk.all_reduce(job.op, job.deterministic);
        }
        break;
      case CollectiveKind::kReduceScatter:
        if constexpr (std::is_floating_point_v<T>) chunk.reduce_scatter(job.op, job.deterministic);
        break;
    }
    if (!inside) {
      for (std::size_t k = t, at = a; at < a + n; ++k) {
        const std::size_t from = at - batch.element_prefix[k];
        const std::size_t take = std::min(batch.element_prefix[k + 1], a + n) - at;
        std::memcpy(static_cast<T*>(batch.buffers[k]) + from, data + (at - a), take * sizeof(T));
        at += take;
      }
    }
    a += n;
  }
}

// Error feedback before a compressed all-reduce: x = g + e is what is sent, and
// e = x - widen(round(x)) the rounding error it will carry to the next call. An
// error that is not finite (x overflowed fp16, or was not finite) is dropped, so
// one bad step does not poison every later one.
void feed_back(const HalfArrays& loops, const ResolvedBatch& grads, const ResolvedBatch& residuals) {
  for (std::size_t t = 0; t < grads.buffers.size(); ++t) {
    loops.feed_back(static_cast<float*>(grads.buffers[t]), static_cast<float*>(residuals.buffers[t]), grads.lengths[t]);
  }
}

// A batch of one state element type (any of the four), one buffer per tensor.
constexpr SlotRole kBitsRole[] = {{SlotKind::kState, 0}};

// Reads tensors that travel as bits (Uint16Arrays or Uint8Arrays) into `out`.
void read_bits(Napi::Env env, const Napi::Value& value, DType dtype, const char* name, ResolvedBatch& out, Napi::Array* owners) {
  read_batch_into(env, value, BatchLayout{1, 0, kBitsRole}, name, out, owners);
  if (out.buffers.size() > 0 && out.state_dtype != dtype) {
    throw_type_error(env, "ERR_DTYPE_MISMATCH", std::string(name) + (dtype == DType::kUint8 ? ": expected Uint8Arrays" : ": expected Uint16Arrays"));
  }
}

}  // namespace

CollectiveJob read_job(const Napi::CallbackInfo& info, Napi::Array* all_owners) {
  const Napi::Env env = info.Env();
  // The typed arrays of each list (f32, f64, u16, u8, residuals), gathered into *all_owners at the end.
  Napi::Array by_type[5];
  Napi::Array* owners = all_owners != nullptr ? by_type : nullptr;
  require_initialized(env, "collective");
  CollectiveJob job;
  job.kind = CollectiveKind(read_int(env, info[0], 0, 3, "kind"));
  job.op = ReduceOp(read_int(env, info[1], 0, 2, "op"));
  job.root = read_int(env, info[2], 0, world().size - 1, "root");
  if (!info[3].IsBoolean()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "deterministic: expected a boolean");
  job.deterministic = info[3].As<Napi::Boolean>().Value();
  // Element counts are passed to MPI as int: a bucket holds fewer than 2^31 elements.
  job.bucket_bytes = std::size_t(read_int(env, info[4], 64, 1 << 30, "bucketBytes"));
  job.stall_seconds = read_number(env, info[5], "stallSeconds");
  read_batch_into(env, info[6], BatchLayout{1, 0}, "float32 tensors", job.f32, owners ? &owners[0] : nullptr);
  read_batch_into(env, info[7], BatchLayout{1, 0}, "float64 tensors", job.f64, owners ? &owners[1] : nullptr);
  if (job.f32.buffers.size() > 0 && job.f32.is_double()) throw_type_error(env, "ERR_DTYPE_MISMATCH", "float32 tensors: expected Float32Arrays");
  if (job.f64.buffers.size() > 0 && !job.f64.is_double()) throw_type_error(env, "ERR_DTYPE_MISMATCH", "float64 tensors: expected Float64Arrays");
  read_bits(env, info[8], DType::kBFloat16, "uint16 tensors", job.u16, owners ? &owners[2] : nullptr);
  read_bits(env, info[9], DType::kUint8, "uint8 tensors", job.u8, owners ? &owners[3] : nullptr);
  const bool reduces = job.kind == CollectiveKind::kAllReduce || job.kind == CollectiveKind::kReduceScatter;
  if (reduces && (job.u16.buffers.size() > 0 || job.u8.buffers.size() > 0)) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "uint16 and uint8 tensors: bits can be broadcast or all-gathered, not reduced");
  }
  if (!info[10].IsTypedArray() || info[10].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fingerprint: expected a Float64Array");
  }
  const Napi::Float64Array fp = info[10].As<Napi::Float64Array>();
  if (fp.ElementLength() == 0) throw_range_error(env, "ERR_SHAPE_MISMATCH", "fingerprint: expected at least one element");
  job.fingerprint.assign(fp.Data(), fp.Data() + fp.ElementLength());
  job.what = info[11].IsString() ? info[11].As<Napi::String>().Utf8Value() : "collective";
  job.compression = Compression(read_int(env, info[12], 0, 2, "compression"));
  read_batch_into(env, info[13], BatchLayout{1, 0}, "residuals", job.residuals, owners ? &owners[4] : nullptr);
  if (job.compression != Compression::kNone) {
    if (job.kind != CollectiveKind::kAllReduce || job.f64.buffers.size() > 0) {
      throw_range_error(env, "ERR_INVALID_ARG_VALUE", "compression: only an all-reduce of float32 tensors is compressed");
    }
  }
  if (job.residuals.buffers.size() > 0) {
    if (job.compression == Compression::kNone || job.residuals.is_double()) {
      throw_range_error(env, "ERR_INVALID_ARG_VALUE", "residuals: expected Float32Arrays, with compression");
    }
    if (job.residuals.lengths != job.f32.lengths) {
      throw_range_error(env, "ERR_SHAPE_MISMATCH", "residuals: expected one array per float32 tensor, of its length");
    }
  }
  if (all_owners != nullptr) {
    *all_owners = Napi::Array::New(env);
    uint32_t k = 0;
    for (const Napi::Array& list : by_type) {
      for (uint32_t i = 0; i < list.Length(); ++i) all_owners->Set(k++, list.Get(i));
    }
  }
  return job;
}

void CollectiveJob::run() {
  const std::lock_guard<std::mutex> hold(world().lock);
  // A rank is gone already: nobody would answer.
  if (world().lost_rank >= 0) {
    lost = world().lost_rank;
    return;
  }
  std::vector<double> all = exchange_fingerprints(fingerprint, stall_seconds, what.c_str(), &lost);
  if (lost >= 0) return;
  if (!fingerprints_agree(all, fingerprint.size())) {
    mismatch = std::move(all);
    return;
  }
  const InMpiData inside;
  if (residuals.buffers.size() > 0) feed_back(half_arrays(compression), f32, residuals);
  run_flat<float>(*this, f32);
  run_flat<double>(*this, f64);
  run_flat<std::uint16_t>(*this, u16);
  run_flat<std::uint8_t>(*this, u8);
}

Napi::Value CollectiveJob::result(Napi::Env env) const {
  if (lost >= 0) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("lostRank", lost);
    out.Set("pid", double(world().local_pids[std::size_t(lost)]));
    return out;
  }
  if (mismatch.empty()) return env.Undefined();
  Napi::Float64Array out = Napi::Float64Array::New(env, mismatch.size());
  std::memcpy(out.Data(), mismatch.data(), mismatch.size() * sizeof(double));
  return out;
}

Napi::Value Collective(const Napi::CallbackInfo& info) {
  CollectiveJob job = read_job(info, nullptr);
  job.run();
  return job.result(info.Env());
}

void require_thread_serialized(Napi::Env env) {
  if (world().initialized && world().thread_level < MPI_THREAD_SERIALIZED) {
    throw_range_error(env, "ERR_MPI_NOT_AVAILABLE",
                      "fusedoptim/distributed: this MPI library does not allow calls from several threads (MPI_THREAD_SERIALIZED); "
                      "use the synchronous collectives");
  }
}

Napi::Value CollectiveAsync(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  require_thread_serialized(env);
  Napi::Array owners;
  CollectiveJob job = read_job(info, &owners);
  return AsyncCall<CollectiveJob>::start(env, std::move(job), owners);
}

}  // namespace fusedoptim::mpi

namespace fusedoptim::mpi {

namespace {

// The two arrays of a conversion, of equal lengths: (Float32Array, Uint16Array) to encode, the reverse to decode.
template <typename From, typename To>
void read_pair(const Napi::CallbackInfo& info, napi_typedarray_type from, napi_typedarray_type to, From** src, To** dst, std::size_t* n) {
  const Napi::Env env = info.Env();
  const auto typed = [&](const Napi::Value& v, napi_typedarray_type type) { return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type; };
  if (!typed(info[1], from) || !typed(info[2], to)) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", from == napi_float32_array ? "expected (Float32Array, Uint16Array)" : "expected (Uint16Array, Float32Array)");
  }
  const Napi::TypedArray a = info[1].As<Napi::TypedArray>(), b = info[2].As<Napi::TypedArray>();
  if (a.ElementLength() != b.ElementLength()) throw_range_error(env, "ERR_SHAPE_MISMATCH", "expected two arrays of one length");
  *src = reinterpret_cast<From*>(static_cast<unsigned char*>(a.ArrayBuffer().Data()) + a.ByteOffset());
  *dst = reinterpret_cast<To*>(static_cast<unsigned char*>(b.ArrayBuffer().Data()) + b.ByteOffset());
  *n = a.ElementLength();
}

Compression read_format(const Napi::CallbackInfo& info) { return Compression(read_int(info.Env(), info[0], 1, 2, "compression")); }

}  // namespace

Napi::Value EncodeHalf(const Napi::CallbackInfo& info) {
  const Compression format = read_format(info);
  const float* src;
  std::uint16_t* dst;
  std::size_t n;
  read_pair(info, napi_float32_array, napi_uint16_array, &src, &dst, &n);
  half_arrays(format).encode(src, dst, n);
  return info.Env().Undefined();
}

Napi::Value DecodeHalf(const Napi::CallbackInfo& info) {
  const Compression format = read_format(info);
  const std::uint16_t* src;
  float* dst;
  std::size_t n;
  read_pair(info, napi_uint16_array, napi_float32_array, &src, &dst, &n);
  half_arrays(format).decode(src, dst, n);
  return info.Env().Undefined();
}

Napi::Value HalfArraysIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), half_arrays_isa()); }

}  // namespace fusedoptim::mpi

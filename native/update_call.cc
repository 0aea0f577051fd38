#include "update_call.h"

#include <vector>

#include "args.h"
#include "async_call.h"
#include "kernel_table.h"

namespace fusedoptim {

namespace {

constexpr int kMaxThreads = 1024;

struct UpdateJob {
  UpdateFn fn = nullptr;
  ResolvedBatch batch;
  std::vector<double> scalars;
  int threads = 1;

  void run() { fn(batch.view(), scalars.data(), threads); }
  Napi::Value result(Napi::Env env) const { return env.Undefined(); }
};

const UpdateKernel& read_kernel(const Napi::CallbackInfo& info) {
  const int kind = read_int(info.Env(), info[0], 0, kUpdateKindCount - 1, "kind");
  return kernels().update[kind];
}

}  // namespace

Napi::Value Update(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const UpdateKernel& kernel = read_kernel(info);
  // One per thread (the main thread and each worker_thread): its vectors keep
  // their capacity, so a warm synchronous step allocates nothing.
  thread_local ResolvedBatch batch;
  read_batch_into(env, info[1], kernel.slots, "buffers", batch);
  const double* scalars = read_scalars(env, info[2], kernel.scalar_count, "scalars");
  const int threads = read_int(env, info[3], 1, kMaxThreads, "threads");
  kernel.run[batch.is_double ? 1 : 0](batch.view(), scalars, threads);
  return env.Undefined();
}

Napi::Value UpdateAsync(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const UpdateKernel& kernel = read_kernel(info);
  UpdateJob job;
  Napi::Array owners;
  job.batch = read_batch(env, info[1], kernel.slots, "buffers", &owners);
  const double* scalars = read_scalars(env, info[2], kernel.scalar_count, "scalars");
  job.scalars.assign(scalars, scalars + kernel.scalar_count);
  job.threads = read_int(env, info[3], 1, kMaxThreads, "threads");
  job.fn = kernel.run[job.batch.is_double ? 1 : 0];
  return AsyncCall<UpdateJob>::start(env, std::move(job), owners);
}

}  // namespace fusedoptim

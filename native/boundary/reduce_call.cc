#include "reduce_call.h"

#include <vector>

#include "args.h"
#include "async_call.h"
#include "dispatch/kernel_table.h"

namespace fusedoptim {

namespace {

struct ReduceJob {
  ReduceFn fn = nullptr;
  ResolvedBatch batch;
  ReduceBlocks blocks;
  double p = 2.0;
  int threads = 1;
  double value = 0.0;

  void run() { value = fn(batch.view(), p, threads, blocks.scratch(), 0.0); }
  Napi::Value result(Napi::Env env) const { return Napi::Number::New(env, value); }
};

// Fills `job` from the call's arguments. Its vectors keep their capacity, so a
// job reused by synchronous calls allocates nothing once warm. `owners`, if
// given, receives the typed arrays the job points into (see read_batch).
void read_job_into(const Napi::CallbackInfo& info, ReduceJob& job, Napi::Array* owners = nullptr) {
  const Napi::Env env = info.Env();
  const int kind = read_int(env, info[0], 0, kReduceKindCount - 1, "kind");
  read_batch_into(env, info[1], BatchLayout{1, 0}, "tensors", job.batch, owners);
  job.p = read_number(env, info[2], "p");
  job.threads = read_threads(env, info[3]);
  job.fn = kernels().reduce[kind][job.batch.is_double() ? 1 : 0];
  job.blocks.fit(job.batch.lengths);
}

}  // namespace

void ReduceBlocks::fit(const std::vector<std::size_t>& lengths) {
  // Fixed blocks per tensor: where each tensor's blocks start in the result array.
  const std::size_t count = lengths.size();
  block_prefix.resize(count + 1);
  block_prefix[0] = 0;
  for (std::size_t t = 0; t < count; ++t) {
    block_prefix[t + 1] = block_prefix[t] + (lengths[t] + kReduceBlock - 1) / kReduceBlock;
  }
  block_results.resize(block_prefix[count]);
}

ReduceScratch ReduceBlocks::scratch() {
  ReduceScratch out;
  out.block_prefix = block_prefix.data();
  out.block_results = block_results.data();
  out.block_count = block_results.size();
  return out;
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  // One per thread (the main thread and each worker_thread), as in Update: a
  // warm synchronous norm allocates nothing. Every argument is read before the
  // kernel runs, and no JavaScript runs between reading and running.
  thread_local ReduceJob job;
  read_job_into(info, job);
  job.run();
  return job.result(info.Env());
}

Napi::Value ReduceAsync(const Napi::CallbackInfo& info) {
  Napi::Array owners;
  ReduceJob job;
  read_job_into(info, job, &owners);
  return AsyncCall<ReduceJob>::start(info.Env(), std::move(job), owners);
}

}  // namespace fusedoptim

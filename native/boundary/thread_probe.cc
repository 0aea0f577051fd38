// threadProbe(elements, threads): which OS threads the kernels' work splitting
// really runs on, for a batch of `elements` elements and a thread setting.
//
// A diagnostic, so that "setNumThreads(1) runs on one thread" is a checkable
// fact rather than a hope: it drives the kernels' own for_each_segment
// (multi_tensor.h: the same team-size rule and the same OpenMP region every
// update kernel uses) with a segment callback that touches no memory and only
// records who called it. Measuring CPU time against wall time would answer the
// same question statistically; this answers it exactly.
//
// Returns { segments, threadsUsed, team, callerRan }: how many segments were
// handed out, how many distinct OS threads ran them, the size of the OpenMP team
// they ran in (1 when no parallel region was opened) and whether the calling
// thread was one of them.
#include <napi.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "args.h"
#include "thread_probe.h"

// multi_tensor.h is compiled per instruction set inside a namespace named by
// FUSEDOPTIM_ISA; the probe needs no vector code, so it gets a namespace of its own.
#define FUSEDOPTIM_ISA thread_probe
#include "drivers/multi_tensor.h"
#undef FUSEDOPTIM_ISA

namespace fusedoptim {

namespace {

// Enough to exercise any team on any machine, small enough that the fake batch costs nothing.
constexpr double kMaxElements = double(1ull << 40);

struct Observation {
  std::size_t segments = 0;
  std::set<std::thread::id> threads;
  int team = 1;
  bool caller_ran = false;
};

Observation observe(std::size_t elements, int threads) {
  // One fake tensor of `elements` elements; the callback never dereferences a buffer.
  const std::size_t prefix[2] = {0, elements};
  const std::size_t lengths[1] = {elements};
  void* const buffers[1] = {nullptr};
  TensorBatch batch;
  batch.count = 1;
  batch.slots = 1;
  batch.buffers = buffers;
  batch.lengths = lengths;
  batch.element_prefix = prefix;
  batch.total = elements;

  Observation seen;
  std::mutex lock;
  const std::thread::id caller = std::this_thread::get_id();
  thread_probe::for_each_segment(batch, threads, [&](std::size_t, std::size_t, std::size_t) {
#ifdef _OPENMP
    const int team = omp_get_num_threads();
#else
    const int team = 1;
#endif
    const std::lock_guard<std::mutex> guard(lock);
    ++seen.segments;
    seen.threads.insert(std::this_thread::get_id());
    if (team > seen.team) seen.team = team;
    if (std::this_thread::get_id() == caller) seen.caller_ran = true;
  });
  return seen;
}

}  // namespace

Napi::Value ThreadProbe(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "elements: expected an integer");
  const double elements = info[0].As<Napi::Number>().DoubleValue();
  if (!(elements >= 0 && elements <= kMaxElements) || double(std::size_t(elements)) != elements) {
    throw_range_error(env, "ERR_OUT_OF_RANGE", "elements: expected an integer in [0, 2^40]");
  }
  const int threads = read_threads(env, info[1]);
  const Observation seen = observe(std::size_t(elements), threads);
  Napi::Object out = Napi::Object::New(env);
  out.Set("segments", double(seen.segments));
  out.Set("threadsUsed", double(seen.threads.size()));
  out.Set("team", seen.team);
  out.Set("callerRan", seen.caller_ran);
  return out;
}

}  // namespace fusedoptim

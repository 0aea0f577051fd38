// threadProbe(elements, threads, lateHelperMs = 0, paced = false): which OS
// threads the kernels' work splitting really runs on, for a batch of
// `elements` elements and a thread setting.
//
// A diagnostic, so that "setNumThreads(1) runs on one thread" is a checkable
// fact rather than a hope: it drives the kernels' own for_each_segment
// (multi_tensor.h, team.h: the same team-size rule, the same chunks and the
// same OpenMP region every update kernel uses) with a segment callback that
// touches no memory and only records who called it. Measuring CPU time against
// wall time would answer the same question statistically; this answers it
// exactly.
//
// lateHelperMs makes every member but the caller sleep that long before
// claiming work: the descheduled thread of a busy machine, on demand. paced
// runs the probe under a pacing of its own (team.h's TeamPacing, separate from
// the kernels'), so a test can watch a losing team send the next calls of that
// size to the calling thread alone.
//
// Returns { segments, threadsUsed, team, callerRan, callerSegments, covered }:
// how many segments were handed out, how many distinct OS threads joined the
// team, the team's size (1 when no parallel region was opened), whether the
// calling thread was one of them, how many segments the caller ran, and whether
// the segments covered the elements exactly once.
#include <napi.h>

#include <algorithm>
#include <mutex>
#include <utility>
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

// Enough to exercise any team on any machine, small enough that the fake batch
// costs little (one callback per chunk of kChunkElements).
constexpr double kMaxElements = double(1ull << 32);
constexpr int kMaxLateHelperMs = 1000;

struct Observation {
  std::mutex lock;
  std::thread::id caller = std::this_thread::get_id();
  std::vector<std::pair<std::size_t, std::size_t>> segments;
  std::set<std::thread::id> threads;
  int team = 1;
  bool caller_ran = false;
  std::size_t caller_segments = 0;

  void joined() {
#ifdef _OPENMP
    const int size = omp_get_num_threads();
#else
    const int size = 1;
#endif
    const std::lock_guard<std::mutex> guard(lock);
    threads.insert(std::this_thread::get_id());
    if (size > team) team = size;
    if (std::this_thread::get_id() == caller) caller_ran = true;
  }

  bool covered(std::size_t elements) {
    std::sort(segments.begin(), segments.end());
    std::size_t reached = 0;
    for (const auto& s : segments) {
      if (s.first != reached) return false;
      reached = s.second;
    }
    return reached == elements;
  }
};

// The probe's own pacing (paced calls only), apart from the kernels'.
thread_probe::TeamPacing& probe_pacing() {
  thread_local thread_probe::TeamPacing pacing;
  return pacing;
}

void observe(std::size_t elements, int threads, unsigned late_helper_ms, bool paced, Observation& seen) {
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

  thread_probe::TeamOptions options;
  options.pacing = paced ? &probe_pacing() : nullptr;
  options.late_helper_us = late_helper_ms * 1000u;
  options.joined = [](void* context) { static_cast<Observation*>(context)->joined(); };
  options.context = &seen;
  auto segment = [&](std::size_t, std::size_t begin, std::size_t end) {
    const std::lock_guard<std::mutex> guard(seen.lock);
    seen.segments.emplace_back(begin, end);
    if (std::this_thread::get_id() == seen.caller) ++seen.caller_segments;
  };
  thread_probe::for_each_segment(batch, threads, segment, options);
  // Without a parallel region no member "joined": the caller ran it all alone.
  if (seen.threads.empty()) {
    seen.threads.insert(seen.caller);
    seen.caller_ran = true;
  }
}

}  // namespace

Napi::Value ThreadProbe(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw_type_error(env, "ERR_INVALID_ARG_TYPE", "elements: expected an integer");
  const double elements = info[0].As<Napi::Number>().DoubleValue();
  if (!(elements >= 0 && elements <= kMaxElements) || double(std::size_t(elements)) != elements) {
    throw_range_error(env, "ERR_OUT_OF_RANGE", "elements: expected an integer in [0, 2^32]");
  }
  const int threads = read_threads(env, info[1]);
  const int late_helper_ms =
      info[2].IsUndefined() ? 0 : read_int(env, info[2], 0, kMaxLateHelperMs, "lateHelperMs");
  if (!info[3].IsUndefined() && !info[3].IsBoolean()) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "paced: expected a boolean");
  }
  const bool paced = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  Observation seen;
  observe(std::size_t(elements), threads, unsigned(late_helper_ms), paced, seen);
  Napi::Object out = Napi::Object::New(env);
  out.Set("segments", double(seen.segments.size()));
  out.Set("threadsUsed", double(seen.threads.size()));
  out.Set("team", seen.team);
  out.Set("callerRan", seen.caller_ran);
  out.Set("callerSegments", double(seen.caller_segments));
  out.Set("covered", seen.covered(std::size_t(elements)));
  return out;
}

}  // namespace fusedoptim

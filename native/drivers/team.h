// The team: how one native call shares its work among threads, and when it
// does not.
//
// A call's work is numbered 0..units-1 (elements, blocks or tiles, in a fixed
// order) and cut into chunks of `grain` units with fixed boundaries. The
// threads of an OpenMP team claim chunks one after another from one atomic
// counter. What a chunk computes depends only on its boundaries, never on who
// claims it or when, so the results are the same for any team size and any
// schedule; only the time changes.
//
// Why claiming rather than one fixed range per thread: on a machine where
// another process holds a core, the system deschedules one of the team's
// threads for milliseconds at a time. With fixed ranges the whole call waited
// for that thread's share (an AdamW step over 1M params took 8-14x its
// one-thread time). With claiming, the threads that run take the work a late
// thread has not started, and a thread that arrives after the last chunk finds
// nothing left.
//
// Claiming alone still leaves the region's closing barrier: the call returns
// only once every member has arrived, and a descheduled one arrives late. So
// the caller also paces itself (TeamPacing): after each region it checks
// whether it kept its core and the team finished sooner than the calling
// thread alone would have, at its own pace in that region; when not, the next
// calls of that size run on the calling thread alone, for a number of calls
// that doubles while the team keeps losing and halves when it pays again. On an idle machine every
// region pays and nothing changes; a call too small to gain from a team falls
// back to one thread the same way.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/kernel_namespace.h"

FUSEDOPTIM_KERNELS_BEGIN

// Below this many elements per thread a parallel region costs more than it saves.
constexpr std::size_t kMinElementsPerThread = 16384;
// Elements per claimed chunk: about 15-30 µs of a memory-bound step, so a
// thread descheduled mid-chunk holds the others up by little, and the counter
// is touched rarely. A multiple of 16, so chunk starts fall on 64-byte lines of
// float32 and two threads rarely write the same line.
constexpr std::size_t kChunkElements = 16384;

// Chunks of whole blocks of `block` units, about kChunkElements elements each.
inline std::size_t blocks_per_chunk(std::size_t block) { return block < kChunkElements ? kChunkElements / block : 1; }

inline int team_size(std::size_t work, int threads) {
  const std::size_t useful = work / kMinElementsPerThread;
  if (threads <= 1 || useful <= 1) return 1;
  return useful < std::size_t(threads) ? int(useful) : threads;
}

// A region pays when the calling thread ran at least a fair share of the
// chunks divided by kCallerShareDivisor (for a team of 2, a quarter of them:
// it held its core through the region) and the region ended before
// kPaysFraction of the time the caller alone would have taken, estimated from
// its own pace inside the region.
constexpr double kPaysFraction = 0.9;
constexpr std::size_t kCallerShareDivisor = 2;
// Calls run alone after the first region that did not pay, and at most: on a
// crowded machine a losing region can cost 50x a step alone (the helper waits
// in the run queue for tens of milliseconds), and 256 alone calls keep that
// below a fifth of the time.
constexpr std::uint32_t kFirstBackoff = 4;
constexpr std::uint32_t kMaxBackoff = 256;

// Whether recent teams paid, per size class (log2 of the call's elements): a
// norm over a few small tensors and a step over a large model, made by the
// same thread, do not decide for each other.
class TeamPacing {
 public:
  static constexpr int kClasses = 64;

  static int size_class(std::size_t elements) {
    int c = 0;
    while (c + 1 < kClasses && (elements >> (c + 1)) != 0) ++c;
    return c;
  }

  // True when this call should run on the calling thread alone.
  bool run_alone(int size) {
    Class& c = classes_[size];
    if (c.alone_left == 0) return false;
    --c.alone_left;
    return true;
  }

  // After a region: did the team beat the caller's own pace?
  void record(int size, bool paid) {
    Class& c = classes_[size];
    if (paid) {
      c.backoff = c.backoff / 2 < kFirstBackoff ? 0 : c.backoff / 2;
    } else {
      c.backoff = c.backoff == 0 ? kFirstBackoff : (c.backoff * 2 < kMaxBackoff ? c.backoff * 2 : kMaxBackoff);
      c.alone_left = c.backoff;
    }
  }

 private:
  struct Class {
    std::uint32_t backoff = 0;     // calls to run alone after the next region that does not pay
    std::uint32_t alone_left = 0;  // calls still to run alone
  };
  Class classes_[kClasses];
};

// The pacing of the calling thread (each Node.js thread and each libuv worker
// has its own: they are different callers on a shared machine).
inline TeamPacing& caller_pacing() {
  thread_local TeamPacing pacing;
  return pacing;
}

struct TeamOptions {
  TeamPacing* pacing = nullptr;  // null: always use the full team
  // Diagnostics only (thread_probe.cc): members other than the caller sleep
  // this long before claiming, a late thread made deterministic; and `joined`
  // is told of every member that enters the region.
  unsigned late_helper_us = 0;
  void (*joined)(void* context) = nullptr;
  void* context = nullptr;

  static TeamOptions for_kernels() {
    TeamOptions options;
    options.pacing = &caller_pacing();
    return options;
  }
};

// Calls work(first, last) for chunks [first, last) of 0..units-1, `grain`
// units each, on a team of at most `threads` (sized by `elements`, the work
// in elements).
template <typename Work>
void share_out(std::size_t units, std::size_t grain, std::size_t elements, int threads, const TeamOptions& options,
               Work& work) {
  int team = team_size(elements, threads);
  const int size = TeamPacing::size_class(elements);
  if (team > 1 && options.pacing != nullptr && options.pacing->run_alone(size)) team = 1;
  if (team <= 1 || units == 0) {
    if (units > 0) work(std::size_t(0), units);
    return;
  }
#ifdef _OPENMP
  using Clock = std::chrono::steady_clock;
  const std::size_t chunks = (units + grain - 1) / grain;
  std::atomic<std::size_t> next{0};
  std::size_t caller_chunks = 0;
  const Clock::time_point start = Clock::now();
  Clock::time_point caller_done = start;
#pragma omp parallel num_threads(team)
  {
    const bool caller = omp_get_thread_num() == 0;
    if (options.joined != nullptr) options.joined(options.context);
    if (!caller && options.late_helper_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(options.late_helper_us));
    std::size_t mine = 0;
    for (std::size_t chunk = next.fetch_add(1, std::memory_order_relaxed); chunk < chunks;
         chunk = next.fetch_add(1, std::memory_order_relaxed)) {
      const std::size_t first = chunk * grain;
      work(first, first + grain < units ? first + grain : units);
      ++mine;
    }
    if (caller) {
      caller_chunks = mine;
      caller_done = Clock::now();
    }
  }
  if (options.pacing != nullptr) {
    const double region = std::chrono::duration<double>(Clock::now() - start).count();
    const double own = std::chrono::duration<double>(caller_done - start).count();
    // A caller that ran few chunks lost its core during the region, often to
    // the helper it had just woken: the team cost it the region. Otherwise the
    // caller alone is its own time scaled to all chunks.
    const bool fair_share = caller_chunks * std::size_t(team) * kCallerShareDivisor >= chunks;
    const bool paid = fair_share && region * double(caller_chunks) <= kPaysFraction * own * double(chunks);
    options.pacing->record(size, paid);
  }
#else
  work(std::size_t(0), units);
#endif
}

FUSEDOPTIM_KERNELS_END

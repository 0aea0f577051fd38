// The process's MPI world: initialisation at the thread level the asynchronous
// collectives need, this process's place in it, and the communicators the
// collectives run on. MPI allows one init and one finalize per process, so
// this is process-wide state (the addon is not context-aware: load it from the
// main thread only).
#pragma once
#include <mpi.h>
#include <napi.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace fusedoptim::mpi {

struct World {
  bool initialized = false;
  bool finalized = false;
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  // What MPI_Init_thread granted: SERIALIZED (or better) lets a collective run
  // on a libuv pool thread while the main thread waits for its Promise.
  int thread_level = MPI_THREAD_SINGLE;
  // Two duplicates of MPI_COMM_WORLD: fingerprints on `control`, data on `data`,
  // so the two never match each other's messages.
  MPI_Comm control = MPI_COMM_NULL;
  MPI_Comm data = MPI_COMM_NULL;
  // Held by whichever thread is inside MPI (the main thread, a libuv pool
  // thread, the gradient thread of in_flight.h): MPI_THREAD_SERIALIZED promises
  // MPI that no two threads call it at once. lib/distributed orders the calls
  // (the same order on every rank); this lock makes the promise hold whatever
  // the caller does.
  std::mutex lock;
  // The process id of each rank on this machine that this process can see (0 for the others:
  // ranks on other machines, or in another PID namespace), so that a rank waited for whose
  // process has ended is known to be gone (peer_gone) instead of waited for until mpirun kills us.
  std::vector<long> local_pids;
  // The first rank found gone, else -1. Later collectives report it at once (nothing would answer
  // them), and abort() and finalize() leave the job to mpirun, which is ending it.
  std::atomic<int> lost_rank{-1};
  // Threads inside MPI's own part of a collective (InMpiData), where a rank gone cannot be seen.
  std::atomic<int> in_mpi_data{0};
};

// Marks a thread inside MPI's part of a collective, after the fingerprints: there MPI waits for
// every rank without a word, and a rank that died leaves it waiting until mpirun kills the job.
// While any thread is inside, a watchdog thread (started by init()) looks every
// kWatchSeconds whether a rank on this machine is gone, and if one stays gone for
// kGoneSeconds it says so on stderr and ends this process (status 1).
class InMpiData {
 public:
  InMpiData();
  ~InMpiData();
  InMpiData(const InMpiData&) = delete;
  InMpiData& operator=(const InMpiData&) = delete;
};

World& world();

// Throws ERR_MPI_NOT_INITIALIZED unless init() ran and finalize() did not.
void require_initialized(Napi::Env env, const char* what);

// True when `rank` runs on this machine and its process has ended (or is a zombie): it died or was
// killed. False when it lives, or runs where this process cannot see it.
bool peer_gone(int rank);

Napi::Value Init(const Napi::CallbackInfo& info);
Napi::Value Finalize(const Napi::CallbackInfo& info);
Napi::Value Barrier(const Napi::CallbackInfo& info);
Napi::Value State(const Napi::CallbackInfo& info);
Napi::Value Abort(const Napi::CallbackInfo& info);

}  // namespace fusedoptim::mpi

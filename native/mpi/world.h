// The process's MPI world: initialisation at the thread level the asynchronous
// collectives need, this process's place in it, and the communicators the
// collectives run on. MPI allows one init and one finalize per process, so
// this is process-wide state (the addon is not context-aware: load it from the
// main thread only).
#pragma once
#include <mpi.h>
#include <napi.h>

#include <mutex>

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
};

World& world();

// Throws ERR_MPI_NOT_INITIALIZED unless init() ran and finalize() did not.
void require_initialized(Napi::Env env, const char* what);

Napi::Value Init(const Napi::CallbackInfo& info);
Napi::Value Finalize(const Napi::CallbackInfo& info);
Napi::Value Barrier(const Napi::CallbackInfo& info);
Napi::Value State(const Napi::CallbackInfo& info);
Napi::Value Abort(const Napi::CallbackInfo& info);

}  // namespace fusedoptim::mpi

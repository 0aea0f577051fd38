#include "world.h"

#include <string>

#include "boundary/args.h"
#include "in_flight.h"

namespace fusedoptim::mpi {

World& world() {
  static World w;
  return w;
}

void require_initialized(Napi::Env env, const char* what) {
  const World& w = world();
  if (!w.initialized || w.finalized) {
    throw_range_error(env, "ERR_MPI_NOT_INITIALIZED",
                      std::string("fusedoptim/distributed: ") + what + ": " +
                          (w.finalized ? "MPI was finalized" : "call init() first"));
  }
}

namespace {

// The MPI library's own state, which outlives ours if someone else (another
// addon) initialised MPI in this process.
bool mpi_initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

bool mpi_finalized() {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag != 0;
}

}  // namespace

// init(): MPI_Init_thread asking for MPI_THREAD_SERIALIZED (collectives run on
// pool threads, one at a time: lib/distributed keeps them in one queue).
// Idempotent; returns state().
Napi::Value Init(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  World& w = world();
  if (w.finalized || mpi_finalized()) {
    throw_range_error(env, "ERR_MPI_NOT_INITIALIZED", "fusedoptim/distributed: init: MPI was finalized in this process; it cannot start again");
  }
  if (!w.initialized) {
    if (mpi_initialized()) {
      MPI_Query_thread(&w.thread_level);
    } else if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &w.thread_level) != MPI_SUCCESS) {
      throw_range_error(env, "ERR_MPI_NOT_AVAILABLE", "fusedoptim/distributed: init: MPI_Init_thread failed");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    MPI_Comm_dup(MPI_COMM_WORLD, &w.control);
    MPI_Comm_dup(MPI_COMM_WORLD, &w.data);
    // The ranks on this machine: those that can share memory with this one.
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &w.local_rank);
    MPI_Comm_size(local, &w.local_size);
    MPI_Comm_free(&local);
    w.initialized = true;
  }
  return State(info);
}

// finalize(): MPI_Finalize once (it waits for the other ranks' finalize); later calls do nothing.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  World& w = world();
  if (w.initialized && !w.finalized) {
    stop_in_flight();
    MPI_Comm_free(&w.control);
    MPI_Comm_free(&w.data);
    if (!mpi_finalized()) MPI_Finalize();
    w.finalized = true;
  }
  return info.Env().Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  require_initialized(info.Env(), "barrier");
  const std::lock_guard<std::mutex> hold(world().lock);
  MPI_Barrier(world().data);
  return info.Env().Undefined();
}

// abort(code): MPI_Abort on every rank of the job (a rank that cannot go on
// takes the others down instead of leaving them waiting in a collective).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = read_int(info.Env(), info[0], 0, 255, "code");
  if (world().initialized && !world().finalized) MPI_Abort(MPI_COMM_WORLD, code);
  return info.Env().Undefined();
}

Napi::Value State(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const World& w = world();
  Napi::Object out = Napi::Object::New(env);
  out.Set("initialized", w.initialized && !w.finalized);
  out.Set("finalized", w.finalized);
  out.Set("rank", w.rank);
  out.Set("size", w.size);
  out.Set("localRank", w.local_rank);
  out.Set("localSize", w.local_size);
  out.Set("threadSerialized", w.thread_level >= MPI_THREAD_SERIALIZED);
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  out.Set("mpiVersion", std::to_string(major) + "." + std::to_string(minor));
  char library[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(library, &length);
  out.Set("library", std::string(library, std::size_t(length)));
  return out;
}

}  // namespace fusedoptim::mpi

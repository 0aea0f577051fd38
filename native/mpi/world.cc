#include "world.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

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

// Every rank's process id on the `local` communicator (this machine), kept for the ranks whose
// process this one can see: a rank in another PID namespace shares the machine, not its ids.
void record_local_pids(World& w, MPI_Comm local) {
  const int mine[2] = {w.rank, int(getpid())};
  std::vector<int> all(2 * std::size_t(w.local_size));
  MPI_Allgather(mine, 2, MPI_INT, all.data(), 2, MPI_INT, local);
  w.local_pids.assign(std::size_t(w.size), 0);
  for (int i = 0; i < w.local_size; ++i) {
    const int r = all[2 * std::size_t(i)], pid = all[2 * std::size_t(i) + 1];
    if (r != w.rank && kill(pid, 0) == 0) w.local_pids[std::size_t(r)] = pid;
  }
}

constexpr double kWatchSeconds = 0.2;
constexpr double kGoneSeconds = 1.0;

// The watchdog of InMpiData: never calls MPI (it runs beside the thread inside it), so it may
// run until the process exits.
void watch_peers() {
  World& w = world();
  double gone_for = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::duration<double>(kWatchSeconds));
    int gone = -1;
    if (w.in_mpi_data.load() > 0) {
      for (int r = 0; r < w.size && gone < 0; ++r) {
        if (peer_gone(r)) gone = r;
      }
    }
    gone_for = gone < 0 ? 0 : gone_for + kWatchSeconds;
    if (gone_for < kGoneSeconds) continue;
    std::fprintf(stderr,
                 "fusedoptim/distributed: rank %d waited inside a collective for rank %d, which is gone (its process %ld on this "
                 "machine ended: it died or was killed); this rank ends too. What was written before is intact: resume from the "
                 "last checkpoint, on the ranks left if need be.\n",
                 w.rank, gone, w.local_pids[std::size_t(gone)]);
    std::fflush(stderr);
    _exit(1);
  }
}

}  // namespace

InMpiData::InMpiData() { ++world().in_mpi_data; }
InMpiData::~InMpiData() { --world().in_mpi_data; }

bool peer_gone(int rank) {
  const World& w = world();
  const long pid = rank >= 0 && std::size_t(rank) < w.local_pids.size() ? w.local_pids[std::size_t(rank)] : 0;
  if (pid <= 0) return false;
  if (kill(pid_t(pid), 0) != 0) return errno == ESRCH;
  // Killed but not yet reaped by mpirun: a zombie ('Z') or dead ('X') process in /proc/<pid>/stat,
  // whose third field follows the parenthesised command name.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return false;
  const char state = text[close + 2];
  return state == 'Z' || state == 'X';
}

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
    record_local_pids(w, local);
    MPI_Comm_free(&local);
    w.initialized = true;
    bool peers_here = false;
    for (const long pid : w.local_pids) peers_here = peers_here || pid > 0;
    if (peers_here) std::thread(watch_peers).detach();
  }
  return State(info);
}

// finalize(): MPI_Finalize once (it waits for the other ranks' finalize); later calls do nothing.
// After a rank was found gone it only marks MPI finalized: MPI_Finalize would wait for that rank.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  World& w = world();
  if (w.initialized && !w.finalized && w.lost_rank >= 0) {
    w.finalized = true;
  } else if (w.initialized && !w.finalized) {
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
  const InMpiData inside;
  MPI_Barrier(world().data);
  return info.Env().Undefined();
}

// abort(code): MPI_Abort on every rank of the job (a rank that cannot go on
// takes the others down instead of leaving them waiting in a collective). Not
// after a rank was found gone: mpirun is ending the job already, and MPI_Abort
// would only add its banner (or wait for the rank that is gone).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = read_int(info.Env(), info[0], 0, 255, "code");
  if (world().initialized && !world().finalized && world().lost_rank < 0) MPI_Abort(MPI_COMM_WORLD, code);
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

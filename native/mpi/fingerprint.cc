#include "fingerprint.h"

#include <mpi.h>
#include <sched.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "world.h"

namespace fusedoptim::mpi {

namespace {

constexpr int kFingerprintTag = 7301;
// How often a rank that waits looks whether the ranks it waits for are still there.
constexpr double kLivenessSeconds = 0.1;

double now_seconds() { return MPI_Wtime(); }

// Waits for every request, yielding the CPU between polls (ranks are often
// oversubscribed on one machine), and warns about the ranks still missing.
// Returns -1 once every request completed, or a missing rank found gone.
int wait_warning_stalls(std::vector<MPI_Request>& requests, const std::vector<int>& peer_of, double stall_seconds,
                        const char* what, double sequence) {
  const World& w = world();
  const double start = now_seconds();
  double next_warning = stall_seconds;
  double next_liveness = kLivenessSeconds;
  long polls = 0;
  std::vector<int> completed(requests.size());
  for (;;) {
    // MPI_Testsome, not MPI_Testall: it frees each request that completed (sets it to
    // MPI_REQUEST_NULL), so the ones left pending name the ranks still missing.
    int count = 0;
    MPI_Testsome(int(requests.size()), requests.data(), &count, completed.data(), MPI_STATUSES_IGNORE);
    if (count == MPI_UNDEFINED) return -1;  // no request left pending
    // Spin briefly (a collective on a quiet machine completes in microseconds), then sleep.
    if (++polls < 2000) {
      sched_yield();
    } else {
      const timespec pause{0, 50 * 1000};
      nanosleep(&pause, nullptr);
    }
    if (polls % 64 == 0 && now_seconds() - start >= next_liveness) {
      next_liveness += kLivenessSeconds;
      // Receives are the odd entries; a pending receive is a rank that has not arrived.
      for (std::size_t i = 1; i < requests.size(); i += 2) {
        if (requests[i] != MPI_REQUEST_NULL && peer_gone(peer_of[i])) return peer_of[i];
      }
    }
    if (stall_seconds > 0 && polls % 64 == 0) {
      const double waited = now_seconds() - start;
      if (waited >= next_warning) {
        std::string missing;
        for (std::size_t i = 0; i < requests.size(); ++i) {
          if (requests[i] == MPI_REQUEST_NULL) continue;
          // Receives are the odd entries; a pending receive is a rank that has not arrived.
          if (i % 2 == 1) missing += (missing.empty() ? "" : ", ") + std::to_string(peer_of[i]);
        }
        if (!missing.empty()) {
          std::fprintf(stderr,
                       "fusedoptim/distributed: stall: rank %d has waited %.1f s in collective #%.0f (%s) for rank(s) %s, "
                       "which have not joined it\n",
                       w.rank, waited, sequence, what, missing.c_str());
          std::fflush(stderr);
        }
        next_warning += stall_seconds;
      }
    }
  }
}

}  // namespace

std::vector<double> exchange_fingerprints(const std::vector<double>& mine, double stall_seconds, const char* what, int* lost) {
  const World& w = world();
  const std::size_t n = mine.size();
  std::vector<double> all(n * std::size_t(w.size));
  std::memcpy(all.data() + n * std::size_t(w.rank), mine.data(), n * sizeof(double));
  // Entries 2k (send to peer k) and 2k + 1 (receive from peer k).
  std::vector<MPI_Request> requests;
  std::vector<int> peer_of;
  requests.reserve(2 * std::size_t(w.size));
  for (int peer = 0; peer < w.size; ++peer) {
    if (peer == w.rank) continue;
    MPI_Request send, receive;
    MPI_Isend(mine.data(), int(n), MPI_DOUBLE, peer, kFingerprintTag, w.control, &send);
    MPI_Irecv(all.data() + n * std::size_t(peer), int(n), MPI_DOUBLE, peer, kFingerprintTag, w.control, &receive);
    requests.push_back(send);
    requests.push_back(receive);
    peer_of.push_back(peer);
    peer_of.push_back(peer);
  }
  *lost = wait_warning_stalls(requests, peer_of, stall_seconds, what, n > 0 ? mine[0] : 0);
  // The requests left pending wait for a process that is gone: this rank will not communicate again.
  if (*lost >= 0) {
    int none = -1;
    world().lost_rank.compare_exchange_strong(none, *lost);
  }
  return all;
}

bool fingerprints_agree(const std::vector<double>& all, std::size_t record) {
  for (std::size_t i = record; i < all.size(); ++i) {
    // Bitwise: records hold integers and hashes, never NaN.
    if (std::memcmp(&all[i], &all[i % record], sizeof(double)) != 0) return false;
  }
  return true;
}

}  // namespace fusedoptim::mpi

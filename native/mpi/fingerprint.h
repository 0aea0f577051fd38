// The fingerprint exchange that runs before every bucketed collective (what
// Horovod's coordinator and TORCH_DISTRIBUTED_DEBUG=DETAIL check): each rank
// sends its record (sequence number, kind of collective, tensor count, element
// types, lengths: lib/distributed/fingerprint.ts lays it out) to every other
// rank and receives theirs. Point-to-point messages rather than one
// MPI_Allgather, so that a rank that waits knows exactly which ranks have not
// arrived, and can say so: after `stall_seconds`, and again every as many
// seconds, it writes a warning naming them to stderr (Horovod's stall check).
// Every rank ends with every record, so all of them reach the same verdict.
#pragma once
#include <vector>

namespace fusedoptim::mpi {

// Returns the records of all ranks, rank r's at [r * mine.size(), (r + 1) * mine.size()).
// `what` names the collective in a stall warning. While it waits it looks, every
// kLivenessSeconds, whether a rank it waits for is gone (peer_gone): it then stops waiting,
// records the rank in world().lost_rank and sets *lost to it (else *lost is -1).
std::vector<double> exchange_fingerprints(const std::vector<double>& mine, double stall_seconds, const char* what, int* lost);

// True when every rank's record equals rank 0's.
bool fingerprints_agree(const std::vector<double>& all, std::size_t record);

}  // namespace fusedoptim::mpi

// How a reduction combines the ranks' values (lib/distributed's ReduceOpCode).
#pragma once

namespace fusedoptim::mpi {

enum class ReduceOp : int { kSum = 0, kMean = 1, kMax = 2 };

}  // namespace fusedoptim::mpi

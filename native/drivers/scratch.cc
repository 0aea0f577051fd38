#include "scratch.h"

#include <vector>

namespace fusedoptim {

void* thread_scratch(std::size_t bytes) {
  const std::size_t count = (bytes + sizeof(double) - 1) / sizeof(double);
  // One per thread: the main thread, each worker_thread and each libuv pool
  // thread running an asynchronous step have their own.
  thread_local std::vector<double> memory;
  if (memory.size() < count) memory.resize(count);
  return memory.data();
}

}  // namespace fusedoptim

#include "in_flight.h"

#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "boundary/async_call.h"
#include "collective.h"
#include "world.h"

namespace fusedoptim::mpi {

namespace {

struct Bucket {
  CollectiveJob job;
  Napi::ObjectReference owners;  // touched on the main thread only
};

// The round of buckets since the last drain, and the thread that communicates them.
class Queue {
 public:
  std::size_t submit(std::unique_ptr<Bucket> bucket) {
    std::lock_guard<std::mutex> hold(mutex_);
    if (!thread_.joinable()) thread_ = std::thread([this] { communicate(); });
    buckets_.push_back(std::move(bucket));
    wake_.notify_one();
    return buckets_.size() - 1;
  }

  // Blocks until every bucket submitted so far has run (any thread).
  void wait() {
    std::unique_lock<std::mutex> hold(mutex_);
    done_changed_.wait(hold, [this] { return done_ == buckets_.size(); });
  }

  // On the main thread, after wait(): the first mismatch, and the round's buffers released.
  Napi::Value finish(Napi::Env env) {
    std::vector<std::unique_ptr<Bucket>> round;
    {
      // Waits again: a bucket submitted since wait() returned must not be freed under the thread.
      std::unique_lock<std::mutex> hold(mutex_);
      done_changed_.wait(hold, [this] { return done_ == buckets_.size(); });
      round.swap(buckets_);
      next_ = done_ = 0;
    }
    for (std::size_t i = 0; i < round.size(); ++i) {
      if (round[i]->job.failed()) {
        Napi::Array out = Napi::Array::New(env, 2);
        out.Set(0u, Napi::Number::New(env, double(i)));
        out.Set(1u, round[i]->job.result(env));
        return out;
      }
    }
    return env.Undefined();
  }

  void stop() {
    {
      std::lock_guard<std::mutex> hold(mutex_);
      stopping_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void communicate() {
    std::unique_lock<std::mutex> hold(mutex_);
    for (;;) {
      wake_.wait(hold, [this] { return stopping_ || next_ < buckets_.size(); });
      if (next_ >= buckets_.size()) {
        if (stopping_) return;
        continue;
      }
      Bucket* bucket = buckets_[next_++].get();  // owned by buckets_ until finish(), which waits for it
      hold.unlock();
      bucket->job.run();
      hold.lock();
      ++done_;
      done_changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_changed_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::size_t next_ = 0, done_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// Never destroyed: a process may exit (or abort) with the thread running.
Queue& queue() {
  static Queue* q = new Queue();
  return *q;
}

// drainAsync's job: the wait on a pool thread, the results on the main thread.
struct DrainJob {
  void run() { queue().wait(); }
  Napi::Value result(Napi::Env env) const { return queue().finish(env); }
};

}  // namespace

Napi::Value Submit(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  require_thread_serialized(env);
  Napi::Array owners;
  auto bucket = std::make_unique<Bucket>();
  bucket->job = read_job(info, &owners);
  bucket->owners = Napi::Persistent(Napi::Object(owners));
  return Napi::Number::New(env, double(queue().submit(std::move(bucket))));
}

Napi::Value Drain(const Napi::CallbackInfo& info) {
  queue().wait();
  return queue().finish(info.Env());
}

Napi::Value DrainAsync(const Napi::CallbackInfo& info) {
  return AsyncCall<DrainJob>::start(info.Env(), DrainJob{}, Napi::Array::New(info.Env()));
}

void stop_in_flight() { queue().stop(); }

}  // namespace fusedoptim::mpi

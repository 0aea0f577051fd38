// Running a kernel call on libuv's thread pool and settling a Promise with it.
//
// The pattern is sharp's: everything the kernel needs is resolved on the main
// thread into a Job (raw pointers, lengths, a copy of the scalars), the JS
// objects that own the memory are kept alive by the worker (a private Array
// holding every typed array, behind a persistent reference the worker owns;
// the (env, name) AsyncWorker constructor has no receiver object to hang it
// on: Receiver().Set() there is a fatal error), the arithmetic runs
// in Execute() on a pool thread, and the Promise is settled back on the main
// thread. A Job is any type with `void run()` and
// `Napi::Value result(Napi::Env) const`.
#pragma once
#include <napi.h>

#include <utility>

namespace fusedoptim {

template <class Job>
class AsyncCall final : public Napi::AsyncWorker {
 public:
  // Queues `job`; `owners` is the Array of typed arrays the job points into.
  static Napi::Value start(Napi::Env env, Job job, const Napi::Array& owners) {
    auto* worker = new AsyncCall(env, std::move(job));
    // A copy of the caller's array, so that changing the caller's array while
    // the step runs cannot let a buffer be collected.
    const uint32_t n = owners.Length();
    Napi::Array kept = Napi::Array::New(env, n);
    for (uint32_t i = 0; i < n; ++i) kept.Set(i, owners.Get(i));
    worker->owners_ = Napi::Persistent(Napi::Object(kept));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override { job_.run(); }
  void OnOK() override { deferred_.Resolve(job_.result(Env())); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  AsyncCall(Napi::Env env, Job job)
      : Napi::AsyncWorker(env, "fusedoptim:kernel"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Job job_;
  Napi::Promise::Deferred deferred_;
  // Released when the worker is deleted, on the main thread, after the Promise settles.
  Napi::ObjectReference owners_;
};

}  // namespace fusedoptim

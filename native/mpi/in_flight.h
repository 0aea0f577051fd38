// Gradient buckets reduced while JavaScript goes on computing (DDP's and
// Horovod's overlap of communication with the backward pass).
//
// submit() reads a collective's arguments on the main thread, exactly as
// collective() does, keeps its typed arrays alive (a persistent reference to
// an Array of them, released on the main thread once the bucket is done) and
// queues it for one communication thread, which runs the queued collectives
// one after another, in submission order, while the main thread returns to
// JavaScript at once. lib/distributed submits the same buckets in the same
// order on every rank; each still exchanges its fingerprint first.
//
// drain() waits for every submitted bucket (drainAsync() on a libuv pool
// thread) and returns, on the main thread, undefined or [index, result] of the
// first bucket that did not communicate (result as collective()'s: every rank's
// fingerprints when they disagreed, { lostRank, pid } when a rank is gone).
// MPI is initialised at MPI_THREAD_SERIALIZED: the communication thread is the only one inside MPI
// while buckets are queued (lib/distributed refuses other collectives then,
// and world().lock makes sure of it).
#pragma once
#include <napi.h>

namespace fusedoptim::mpi {

// submit(...collective() arguments): returns the bucket's index in this round.
Napi::Value Submit(const Napi::CallbackInfo& info);
Napi::Value Drain(const Napi::CallbackInfo& info);
Napi::Value DrainAsync(const Napi::CallbackInfo& info);

// Joins the communication thread (before MPI_Finalize); buckets still queued run first.
void stop_in_flight();

}  // namespace fusedoptim::mpi

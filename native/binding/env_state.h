// Per-environment state (the main thread and each worker thread have their own): the thread-safe function
// that carries finished async forwards back to the JS thread, and the bookkeeping that lets an environment
// shut down (worker terminated, process.exit) while its jobs are still queued or running on the pool.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "../core/cond_var.h"

namespace fastmha {
namespace binding {

struct ForwardJob;
struct EnvState;

void onJobDone(Napi::Env env, Napi::Function, EnvState* state, ForwardJob* job);
using CompletionFn = Napi::TypedThreadSafeFunction<EnvState, ForwardJob, onJobDone>;

struct EnvState {
  CompletionFn completion;
  std::mutex m;
  CondVar idle;
  int running = 0;                   // jobs on the pool that have not yet been handed back (guarded by m)
  bool closing = false;              // the environment is being torn down: skip queued work, hand nothing back
  std::vector<ForwardJob*> orphans;  // finished after closing began; freed by the cleanup hook
  int unsettled = 0;                 // promises not yet settled; JS thread only. The loop is kept alive while > 0.

  // Creates the completion function, then registers the cleanup hook after it, so the hook runs first
  // (hooks run in reverse order) while the thread-safe function still exists.
  static std::shared_ptr<EnvState> create(Napi::Env env);
};

}  // namespace binding
}  // namespace fastmha

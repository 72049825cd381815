// An async forward: what the pool needs (a plain core::ForwardArgs and the layer), plus the JS-side state
// (the promise, references that keep the argument arrays alive) that only the JS thread touches.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/mha.h"
#include "cancel_token.h"
#include "env_state.h"
#include "input_copies.h"

namespace fastmha {
namespace binding {

struct ForwardJob {
  std::shared_ptr<const Layer> layer;  // shared so dispose() during the call does not free the weights under it
  ForwardArgs args;
  int maxThreads = 1;
  std::string error;              // set by the compute step instead of throwing
  std::vector<InputCopy> inputs;  // copies of inputs in detachable buffers (args point into them)
  CancelFlag cancelled;           // set when the call's AbortSignal fires (args.cancelled points to it)
  // JS thread only:
  std::shared_ptr<EnvState> env;
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> keepAlive;

  ForwardJob(Napi::Env e, std::shared_ptr<EnvState> s) : env(std::move(s)), deferred(Napi::Promise::Deferred::New(e)) {}
};

// Queues the job on the pool; its promise settles on the JS thread when the pool is done.
Napi::Promise submitForward(Napi::Env env, std::unique_ptr<ForwardJob> job);

// Frees a job whose environment is gone: its references die with the environment, so they are not deleted.
void dropJob(ForwardJob* job);

}  // namespace binding
}  // namespace fastmha

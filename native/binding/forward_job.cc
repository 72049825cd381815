#include "forward_job.h"

#include <exception>

namespace fastmha {
namespace binding {

void dropJob(ForwardJob* job) {
  for (auto& r : job->keepAlive) r.SuppressDestruct();
  delete job;
}

void onJobDone(Napi::Env env, Napi::Function, EnvState* state, ForwardJob* job) {
  if (env == nullptr) {  // the environment is shutting down with this job still in the queue
    dropJob(job);
    return;
  }
  try {
    Napi::HandleScope scope(env);
    if (job->error.empty()) {
      job->deferred.Resolve(env.Undefined());
    } else {
      job->deferred.Reject(Napi::Error::New(env, "fastmha: forward failed: " + job->error).Value());
    }
    if (--state->unsettled == 0) state->completion.Unref(env);
  } catch (const Napi::Error&) {
    // A worker being terminated can no longer run JavaScript: its promises are gone with it.
  }
  delete job;
}

Napi::Promise submitForward(Napi::Env env, std::unique_ptr<ForwardJob> job) {
  std::shared_ptr<EnvState> state = job->env;
  Napi::Promise promise = job->deferred.Promise();
  if (state->unsettled++ == 0) state->completion.Ref(env);
  {
    std::lock_guard<std::mutex> lock(state->m);
    ++state->running;
  }
  ForwardJob* raw = job.release();
  globalPool().submit([raw, state] {
    bool skip;
    {
      std::lock_guard<std::mutex> lock(state->m);
      skip = state->closing;
    }
    if (!skip) {
      try {
        raw->layer->forward(raw->args, globalPool(), raw->maxThreads);
      } catch (const std::exception& e) {
        raw->error = e.what();
      }
    }
    std::lock_guard<std::mutex> lock(state->m);
    if (state->closing || state->completion.NonBlockingCall(raw) != napi_ok) state->orphans.push_back(raw);
    --state->running;
    state->idle.notify_all();
  });
  return promise;
}

std::shared_ptr<EnvState> EnvState::create(Napi::Env env) {
  auto state = std::make_shared<EnvState>();
  state->completion = CompletionFn::New(env, "fastmha.forward", 0, 1, state.get());
  state->completion.Unref(env);
  env.AddCleanupHook([state] {
    std::unique_lock<std::mutex> lock(state->m);
    state->closing = true;
    // The job in progress finishes its arithmetic (it writes into buffers this environment owns); queued
    // jobs of this environment are skipped by the dispatcher.
    state->idle.wait(lock, [&] { return state->running == 0; });
    for (ForwardJob* job : state->orphans) dropJob(job);
    state->orphans.clear();
  });
  return state;
}

}  // namespace binding
}  // namespace fastmha

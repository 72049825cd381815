// Module registration only: the binding/ files define what is exported.
#include <napi.h>

#include "binding/cancel_token.h"
#include "binding/env_state.h"
#include "binding/layer_wrap.h"
#include "binding/runtime.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // Context-aware: each environment (main thread, every worker) gets its own state, freed with it.
  env.SetInstanceData(new std::shared_ptr<fastmha::binding::EnvState>(fastmha::binding::EnvState::create(env)));
  exports.Set("Layer", fastmha::binding::LayerWrap::define(env));
  fastmha::binding::defineRuntime(env, exports);
  fastmha::binding::defineCancel(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(fastmha, init)

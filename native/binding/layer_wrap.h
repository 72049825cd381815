// The native side of MultiHeadAttention: owns one core::Layer (weights prepared once) and runs forwards on it.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/mha.h"
#include "env_state.h"

namespace fastmha {
namespace binding {

class LayerWrap : public Napi::ObjectWrap<LayerWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit LayerWrap(const Napi::CallbackInfo& info);
  ~LayerWrap() override;

 private:
  Napi::Value getWeights(const Napi::CallbackInfo& info);
  Napi::Value forwardSync(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  const std::shared_ptr<const Layer>& live(Napi::Env env) const;
  void release(Napi::Env env);

  std::shared_ptr<const Layer> layer_;
  int64_t reported_ = 0;  // bytes reported to V8 as external memory
};

}  // namespace binding
}  // namespace fastmha

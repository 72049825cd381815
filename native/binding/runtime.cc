#include "runtime.h"

#include "../core/cpu.h"
#include "../core/thread_pool.h"
#include "checks.h"

namespace fastmha {
namespace binding {
namespace {

Napi::Value setThreads(const Napi::CallbackInfo& info) {
  Napi::Object args = Napi::Object::New(info.Env());
  args.Set("threads", info[0]);
  globalPool().resize(static_cast<int>(requireInt(property(args, "threads"), 1, 4096)));
  return info.Env().Undefined();
}

Napi::Value getThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), globalPool().threads()); }

Napi::Value availableThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), availableCpus()); }

Napi::Value getCpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuInfo c = cpuInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", c.isa);
  Napi::Array features = Napi::Array::New(env, c.features.size());
  for (size_t i = 0; i < c.features.size(); ++i) features.Set(static_cast<uint32_t>(i), c.features[i]);
  o.Set("features", features);
  return o;
}

}  // namespace

void defineRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreads", Napi::Function::New<setThreads>(env, "setThreads"));
  exports.Set("getThreads", Napi::Function::New<getThreads>(env, "getThreads"));
  exports.Set("availableThreads", Napi::Function::New<availableThreads>(env, "availableThreads"));
  exports.Set("cpuInfo", Napi::Function::New<getCpuInfo>(env, "cpuInfo"));
}

}  // namespace binding
}  // namespace fastmha

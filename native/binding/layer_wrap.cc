#include "layer_wrap.h"

#include "checks.h"
#include "forward_args.h"
#include "forward_job.h"

namespace fastmha {
namespace binding {
namespace {

std::shared_ptr<EnvState> envState(Napi::Env env) { return *env.GetInstanceData<std::shared_ptr<EnvState>>(); }

LayerDims readDims(Napi::Value v) {
  Napi::Object o = requireObject(v, "dims");
  constexpr int64_t kMax = (int64_t{1} << 24);
  LayerDims d;
  d.numHeads = requireInt(property(o, "numHeads"), 1, kMax);
  d.keyDim = requireInt(property(o, "keyDim"), 1, kMax);
  d.valueDim = requireInt(property(o, "valueDim"), 1, kMax);
  d.queryDim = requireInt(property(o, "queryDim"), 1, kMax);
  d.keyInputDim = requireInt(property(o, "keyInputDim"), 1, kMax);
  d.valueInputDim = requireInt(property(o, "valueInputDim"), 1, kMax);
  d.outputDim = requireInt(property(o, "outputDim"), 1, kMax);
  d.useBias = requireBool(property(o, "useBias"));
  return d;
}

}  // namespace

Napi::Function LayerWrap::define(Napi::Env env) {
  return DefineClass(
      env, "Layer",
      {InstanceMethod<&LayerWrap::getWeights>("getWeights"), InstanceMethod<&LayerWrap::forwardSync>("forwardSync"),
       InstanceMethod<&LayerWrap::forward>("forward"), InstanceMethod<&LayerWrap::dispose>("dispose")});
}

// new Layer(dims, weights): weights is an object of row-major Float32Arrays in the Keras layout, flattened.
LayerWrap::LayerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LayerWrap>(info) {
  Napi::Env env = info.Env();
  const LayerDims d = readDims(info[0]);
  Napi::Object w = requireObject(info[1], "weights");
  const int64_t qk = checkedElements(env, "query.kernel", {d.queryDim, d.numHeads, d.keyDim});
  const int64_t kk = checkedElements(env, "key.kernel", {d.keyInputDim, d.numHeads, d.keyDim});
  const int64_t vk = checkedElements(env, "value.kernel", {d.valueInputDim, d.numHeads, d.valueDim});
  const int64_t ok = checkedElements(env, "output.kernel", {d.numHeads, d.valueDim, d.outputDim});
  auto kernel = [&](const char* key, int64_t n) {
    return requireArray(property(w, key), napi_float32_array, n).as<const float>();
  };
  auto bias = [&](const char* key, int64_t n) {
    return d.useBias ? requireArray(property(w, key), napi_float32_array, n).as<const float>() : nullptr;
  };
  WeightsView v{kernel("query.kernel", qk),  bias("query.bias", d.numHeads * d.keyDim),
                kernel("key.kernel", kk),    bias("key.bias", d.numHeads * d.keyDim),
                kernel("value.kernel", vk),  bias("value.bias", d.numHeads * d.valueDim),
                kernel("output.kernel", ok), bias("output.bias", d.outputDim)};
  try {
    layer_ = std::make_shared<const Layer>(d, v);
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "fastmha: not enough memory for the layer's weights");
  }
  reported_ = static_cast<int64_t>(layer_->bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, reported_);
}

LayerWrap::~LayerWrap() {
  // The environment may already be gone (finalizers at shutdown), so nothing is reported back here; V8
  // forgets external memory with the isolate.
}

void LayerWrap::release(Napi::Env env) {
  if (!layer_) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
  reported_ = 0;
  layer_.reset();
}

const std::shared_ptr<const Layer>& LayerWrap::live(Napi::Env env) const {
  if (!layer_) throw Napi::Error::New(env, "fastmha: this MultiHeadAttention has been disposed");
  return layer_;
}

Napi::Value LayerWrap::getWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Layer& layer = *live(env);
  const LayerDims& d = layer.dims();
  auto make = [&](int64_t n) { return Napi::Float32Array::New(env, static_cast<size_t>(n)); };
  Napi::Float32Array qk = make(d.queryDim * d.numHeads * d.keyDim), kk = make(d.keyInputDim * d.numHeads * d.keyDim),
                     vk = make(d.valueInputDim * d.numHeads * d.valueDim),
                     ok = make(d.numHeads * d.valueDim * d.outputDim);
  Napi::Object out = Napi::Object::New(env);
  out.Set("query.kernel", qk);
  out.Set("key.kernel", kk);
  out.Set("value.kernel", vk);
  out.Set("output.kernel", ok);
  float *qb = nullptr, *kb = nullptr, *vb = nullptr, *ob = nullptr;
  if (d.useBias) {
    Napi::Float32Array q = make(d.numHeads * d.keyDim), k = make(d.numHeads * d.keyDim),
                       v = make(d.numHeads * d.valueDim), o = make(d.outputDim);
    out.Set("query.bias", q);
    out.Set("key.bias", k);
    out.Set("value.bias", v);
    out.Set("output.bias", o);
    qb = q.Data(), kb = k.Data(), vb = v.Data(), ob = o.Data();
  }
  layer.getWeights(qk.Data(), qb, kk.Data(), kb, vk.Data(), vb, ok.Data(), ob);
  return out;
}

Napi::Value LayerWrap::forwardSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::shared_ptr<const Layer>& layer = live(env);
  CheckedForward c = checkForwardArgs(info, layer->dims());
  try {
    layer->forward(c.args, globalPool(), c.maxThreads);
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "fastmha: not enough memory for this forward's workspace");
  }
  return env.Undefined();
}

Napi::Value LayerWrap::forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::shared_ptr<const Layer>& layer = live(env);
  CheckedForward c = checkForwardArgs(info, layer->dims());
  CancelFlag cancelled = cancelFlag(info[kCancelPosition]);
  // Handing a call to the pool and back costs tens of microseconds of wake-ups (more in a VM); a call whose
  // arithmetic takes a few is done here instead, on one thread, and its promise settles all the same.
  constexpr int64_t kInlineFlops = 100'000;
  if (layer->flops(c.args) < kInlineFlops) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    try {
      layer->forward(c.args, globalPool(), 1);
      deferred.Resolve(env.Undefined());
    } catch (const std::bad_alloc&) {
      deferred.Reject(Napi::RangeError::New(env, "fastmha: not enough memory for this forward's workspace").Value());
    }
    return deferred.Promise();
  }
  auto job = std::make_unique<ForwardJob>(env, envState(env));
  job->layer = layer;
  job->cancelled = std::move(cancelled);
  // Inputs in ordinary ArrayBuffers could be detached (transferred) while the pool reads them: they are copied here,
  // on the JS thread, into memory the job owns. Native copies, not JS ones: a server's per-call copies would
  // otherwise be garbage the JS heap collects on the event loop.
  copyInputs(c, job->inputs);
  job->args = c.args;
  job->args.cancelled = job->cancelled.get();  // the job keeps the flag alive
  job->maxThreads = c.maxThreads;
  for (int i = 0; i < c.arrayCount; ++i) job->keepAlive.push_back(Napi::Persistent(c.arrays[i]));
  return submitForward(env, std::move(job));
}

Napi::Value LayerWrap::dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace fastmha

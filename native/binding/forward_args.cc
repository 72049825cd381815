#include "forward_args.h"

#include "checks.h"

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace fastmha {
namespace binding {

namespace {

// The positions of forward's arguments: the order of NativeForwardArgs in lib/native.ts, packed as that list is
// (clang-format would give each its own line).
// clang-format off
enum Position : size_t {
  kBatch, kQueryLen, kKeyLen, kThreads, kCausal, kQuery, kKey, kValue, kOutput, kScores, kKeyPadding, kMask,
  kMaskStrideB, kMaskStrideH, kMaskStrideT, kBias, kBiasStrideB, kBiasStrideH, kBiasStrideT
};
// clang-format on

}  // namespace

CheckedForward checkForwardArgs(const Napi::CallbackInfo& info, const LayerDims& d) {
  Napi::Env env = info.Env();
  auto arg = [&](Position i, const char* name) { return Arg{info[i], name}; };
  constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
  CheckedForward c;
  ForwardArgs& f = c.args;
  f.batch = requireInt(arg(kBatch, "batch"), 1, kMaxDim);
  f.queryLen = requireInt(arg(kQueryLen, "queryLen"), 1, kMaxDim);
  f.keyLen = requireInt(arg(kKeyLen, "keyLen"), 0, kMaxDim);  // no keys: the output rows are the output bias
  c.maxThreads = static_cast<int>(requireInt(arg(kThreads, "threads"), 1, 4096));
  f.causal = requireBool(arg(kCausal, "causal"));
  const int64_t B = f.batch, T = f.queryLen, S = f.keyLen, H = d.numHeads;

  // An optional array that is absent is not sized: a long sequence's scores, [B, H, T, S], may be more than any
  // typed array holds when none are asked for.
  auto floats = [&](Position i, const char* key, std::initializer_list<int64_t> shape, bool optional = false) {
    if (optional && absent(info[i])) return CheckedArray{};
    CheckedArray a = requireArray(arg(i, key), napi_float32_array, checkedElements(env, key, shape), optional);
    if (!a.array.IsEmpty()) c.keep(a.array);
    return a;
  };
  const CheckedArray query = floats(kQuery, "query", {B, T, d.queryDim});
  const CheckedArray key = floats(kKey, "key", {B, S, d.keyInputDim});
  const CheckedArray value = floats(kValue, "value", {B, S, d.valueInputDim});
  c.query = query.array, c.key = key.array, c.value = value.array;
  f.query = query.as<const float>();
  f.key = key.as<const float>();
  f.value = value.as<const float>();
  f.output = floats(kOutput, "output", {B, T, d.outputDim}).as<float>();
  f.scores = floats(kScores, "scores", {B, H, T, S}, true).as<float>();

  const CheckedArray pad =
      requireArray(arg(kKeyPadding, "keyPadding"), napi_uint8_array, checkedElements(env, "keyPadding", {B, S}), true);
  if (!pad.array.IsEmpty()) c.keep(pad.array);
  c.keyPadding = pad.array;
  f.keyPadding = pad.as<const uint8_t>();

  // Strides broadcast a mask or bias over [B, H, T, S] (they follow it among the arguments); the farthest element
  // read must lie inside the array. Strides past 2^32 could not index any typed array, and with B, H, T < 2^31 the
  // sum stays below 2^65: computed in 128 bits, it cannot wrap.
  struct Broadcast {
    CheckedArray array;
    int64_t strideB, strideH, strideT;
  };
  auto broadcast = [&](Position at, const char* name, napi_typedarray_type type, const char* const(&strides)[3]) {
    constexpr int64_t kMaxStride = (int64_t{1} << 32) - 1;
    int64_t st[3];
    for (size_t i = 0; i < 3; ++i) {
      st[i] = requireInt(arg(static_cast<Position>(at + 1 + i), strides[i]), 0, kMaxStride);
    }
    const __int128 end = (__int128)(B - 1) * st[0] + (__int128)(H - 1) * st[1] + (__int128)(T - 1) * st[2] + S;
    if (end > kMaxStride) {
      throwRange(env, std::string("The ") + name + " strides reach past what a typed array can hold");
    }
    const CheckedArray a = requireArrayAtLeast(arg(at, name), type, static_cast<int64_t>(end));
    c.keep(a.array);
    return Broadcast{a, st[0], st[1], st[2]};
  };
  if (!info[kMask].IsUndefined()) {
    const Broadcast m = broadcast(kMask, "mask", napi_uint8_array, {"maskStrideB", "maskStrideH", "maskStrideT"});
    c.mask = m.array.array;
    f.mask = MaskView{m.array.as<const uint8_t>(), m.strideB, m.strideH, m.strideT};
  }
  if (!info[kBias].IsUndefined()) {
    const Broadcast b = broadcast(kBias, "bias", napi_float32_array, {"biasStrideB", "biasStrideH", "biasStrideT"});
    c.bias = b.array.array;
    f.bias = BiasView{b.array.as<const float>(), b.strideB, b.strideH, b.strideT};
  }
  return c;
}

void copyInputs(CheckedForward& c, std::vector<InputCopy>& owned) {
  std::vector<std::pair<const void*, const void*>> copied;  // source, copy
  auto copy = [&](Napi::TypedArray array, const auto*& data) {
    // napi_is_arraybuffer is false for a SharedArrayBuffer.
    if (array.IsEmpty() || !array.ArrayBuffer().IsArrayBuffer()) return;
    for (const auto& [source, to] : copied) {
      if (source == data) {
        data = static_cast<std::remove_reference_t<decltype(data)>>(to);
        return;
      }
    }
    owned.emplace_back(data, array.ByteLength());
    copied.emplace_back(data, owned.back().data());
    data = reinterpret_cast<std::remove_reference_t<decltype(data)>>(owned.back().data());
  };
  ForwardArgs& f = c.args;
  copy(c.query, f.query);
  copy(c.key, f.key);
  copy(c.value, f.value);
  copy(c.keyPadding, f.keyPadding);
  copy(c.mask, f.mask.data);
  copy(c.bias, f.bias.data);
}

}  // namespace binding
}  // namespace fastmha

#include "forward_args.h"

#include "checks.h"

#include <type_traits>
#include <utility>

namespace fastmha {
namespace binding {

namespace {

// The positions of forward's arguments: the order of NativeForwardArgs in lib/native.ts.
enum Position : size_t {
  kBatch, kQueryLen, kKeyLen, kThreads, kCausal, kQuery, kKey, kValue, kOutput, kScores, kKeyPadding, kMask,
  kMaskStrideB, kMaskStrideH, kMaskStrideT
};

}  // namespace

CheckedForward checkForwardArgs(const Napi::CallbackInfo& info, const LayerDims& d) {
  Napi::Env env = info.Env();
  auto arg = [&](Position i, const char* name) { return Arg{info[i], name}; };
  constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
  CheckedForward c;
  c.arrays.reserve(7);
  ForwardArgs& f = c.args;
  f.batch = requireInt(arg(kBatch, "batch"), 1, kMaxDim);
  f.queryLen = requireInt(arg(kQueryLen, "queryLen"), 1, kMaxDim);
  f.keyLen = requireInt(arg(kKeyLen, "keyLen"), 1, kMaxDim);
  c.maxThreads = static_cast<int>(requireInt(arg(kThreads, "threads"), 1, 4096));
  f.causal = requireBool(arg(kCausal, "causal"));
  const int64_t B = f.batch, T = f.queryLen, S = f.keyLen, H = d.numHeads;

  auto floats = [&](Position i, const char* key, std::initializer_list<int64_t> shape, bool optional = false) {
    Napi::TypedArray a = requireArray(arg(i, key), napi_float32_array, checkedElements(env, key, shape), optional);
    if (!a.IsEmpty()) c.arrays.push_back(a);
    return a;
  };
  c.query = floats(kQuery, "query", {B, T, d.queryDim});
  c.key = floats(kKey, "key", {B, S, d.keyInputDim});
  c.value = floats(kValue, "value", {B, S, d.valueInputDim});
  f.query = dataOf<const float>(c.query);
  f.key = dataOf<const float>(c.key);
  f.value = dataOf<const float>(c.value);
  f.output = dataOf<float>(floats(kOutput, "output", {B, T, d.outputDim}));
  f.scores = dataOf<float>(floats(kScores, "scores", {B, H, T, S}, true));

  Napi::TypedArray pad = requireArray(arg(kKeyPadding, "keyPadding"), napi_uint8_array,
                                      checkedElements(env, "keyPadding", {B, S}), true);
  if (!pad.IsEmpty()) c.arrays.push_back(pad);
  c.keyPadding = pad;
  f.keyPadding = dataOf<const uint8_t>(pad);

  if (!info[kMask].IsUndefined()) {
    // Strides broadcast the mask over [B, H, T, S]; the farthest element read must lie inside the array.
    // Strides past 2^32 could not index any typed array, and with B, H, T < 2^31 the sum stays below 2^65:
    // computed in 128 bits, it cannot wrap.
    constexpr int64_t kMaxStride = (int64_t{1} << 32) - 1;
    const int64_t sb = requireInt(arg(kMaskStrideB, "maskStrideB"), 0, kMaxStride);
    const int64_t sh = requireInt(arg(kMaskStrideH, "maskStrideH"), 0, kMaxStride);
    const int64_t st = requireInt(arg(kMaskStrideT, "maskStrideT"), 0, kMaxStride);
    const __int128 end = (__int128)(B - 1) * sb + (__int128)(H - 1) * sh + (__int128)(T - 1) * st + S;
    if (end > kMaxStride) throwRange(env, "The mask strides reach past what a Uint8Array can hold");
    const int64_t last = static_cast<int64_t>(end);
    Napi::TypedArray m = requireArrayAtLeast(arg(kMask, "mask"), napi_uint8_array, last);
    c.arrays.push_back(m);
    c.mask = m;
    f.mask = MaskView{dataOf<const uint8_t>(m), sb, sh, st};
  }
  return c;
}

void copyInputs(CheckedForward& c, uint32_t copies, std::vector<std::vector<char>>& owned) {
  std::vector<std::pair<const void*, const void*>> copied;  // source, copy
  auto copy = [&](uint32_t bit, Napi::TypedArray array, const auto*& data) {
    if (!(copies & bit) || array.IsEmpty()) return;
    for (const auto& [source, to] : copied) {
      if (source == data) {
        data = static_cast<std::remove_reference_t<decltype(data)>>(to);
        return;
      }
    }
    const char* from = reinterpret_cast<const char*>(data);
    owned.emplace_back(from, from + array.ByteLength());
    copied.emplace_back(data, owned.back().data());
    data = reinterpret_cast<std::remove_reference_t<decltype(data)>>(owned.back().data());
  };
  ForwardArgs& f = c.args;
  copy(1, c.query, f.query);
  copy(2, c.key, f.key);
  copy(4, c.value, f.value);
  copy(8, c.keyPadding, f.keyPadding);
  copy(16, c.mask, f.mask.data);
}

}  // namespace binding
}  // namespace fastmha

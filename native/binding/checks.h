// Argument checks at the Node-API boundary: the TypeScript layer validates first, these catch what it cannot
// guarantee (detached buffers, lengths, shapes whose element counts overflow) and calls that bypass it.
// Each throws a TypeError or RangeError naming the argument, as the TypeScript checks do.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace fastmha {
namespace binding {

[[noreturn]] void throwType(Napi::Env env, const std::string& name, const std::string& expected, Napi::Value got);
[[noreturn]] void throwRange(Napi::Env env, const std::string& message);

// One argument as the checks see it: its value and the name errors give it (a property of an options object, or
// a positional argument; forward's arguments are positional because looking up named properties cost more
// than a tiny layer's arithmetic).
struct Arg {
  Napi::Value value;
  const char* name;
};
inline Arg property(Napi::Object o, const char* key) { return Arg{o.Get(key), key}; }
// An optional argument left out: undefined or null.
inline bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

Napi::Object requireObject(Napi::Value v, const std::string& name);
// A finite integer in [min, max].
int64_t requireInt(Arg a, int64_t min, int64_t max);
bool requireBool(Arg a);

// product of the factors, or a RangeError when it exceeds what one typed array can hold
int64_t checkedElements(Napi::Env env, const char* name, std::initializer_list<int64_t> dims);

// A checked typed array and its element pointer (byteOffset applied; SharedArrayBuffer-backed arrays too), read
// with one napi_get_typedarray_info: a tiny forward checks seven arrays, and each query of V8 counts.
struct CheckedArray {
  Napi::TypedArray array;  // empty when optional and absent
  void* data = nullptr;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// A Float32Array (or Uint8Array) of exactly `length` elements whose memory is still attached; empty when it is
// undefined or null and `optional`.
CheckedArray requireArray(Arg a, napi_typedarray_type type, int64_t length, bool optional = false);
// Like requireArray, for arrays that are read at strided offsets: at least `minLength` elements.
CheckedArray requireArrayAtLeast(Arg a, napi_typedarray_type type, int64_t minLength, bool optional = false);

}  // namespace binding
}  // namespace fastmha

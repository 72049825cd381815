#include "checks.h"

#include <cmath>
#include <limits>

namespace fastmha {
namespace binding {
namespace {

const char* typeName(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return "Float32Array";
    case napi_uint8_array: return "Uint8Array";
    default: return "typed array";
  }
}

std::string describe(Napi::Value v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) return "a typed array of length " + std::to_string(v.As<Napi::TypedArray>().ElementLength());
  if (v.IsNumber()) return "the number " + v.ToString().Utf8Value();
  if (v.IsBoolean()) return v.ToBoolean() ? "true" : "false";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

CheckedArray checkArray(Arg arg, napi_typedarray_type type, int64_t length, bool exact, bool optional) {
  Napi::Value v = arg.value;
  Napi::Env env = v.Env();
  const char* key = arg.name;
  // One query of V8 for a present array: napi_get_typedarray_info fails (without a pending exception) for
  // anything else, and only then is it worth asking what the value was.
  napi_typedarray_type actual = napi_int8_array;
  size_t elements = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &actual, &elements, &data, nullptr, nullptr) != napi_ok) {
    if (optional && absent(v)) return CheckedArray{};
    throwType(env, key, typeName(type), v);
  }
  if (actual != type) throwType(env, key, typeName(type), v);
  const int64_t n = static_cast<int64_t>(elements);
  // A detached (transferred) buffer reads as length 0 with no memory behind it.
  if (n == 0 && length > 0) throwType(env, key, std::string("an attached ") + typeName(type), v);
  if (exact ? n != length : n < length) {
    throwRange(env, std::string("Expected ") + typeName(type) + " of " + (exact ? "" : "at least ") +
                        std::to_string(length) + " elements for " + key + " but received " + std::to_string(n));
  }
  return CheckedArray{v.As<Napi::TypedArray>(), data};
}

}  // namespace

void throwType(Napi::Env env, const std::string& name, const std::string& expected, Napi::Value got) {
  throw Napi::TypeError::New(env, "Expected " + expected + " for " + name + " but received " + describe(got));
}

void throwRange(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

Napi::Object requireObject(Napi::Value v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) throwType(v.Env(), name, "an object", v);
  return v.As<Napi::Object>();
}

int64_t requireInt(Arg a, int64_t min, int64_t max) {
  Napi::Value v = a.value;
  double d = 0;
  if (napi_get_value_double(v.Env(), v, &d) != napi_ok) throwType(v.Env(), a.name, "an integer", v);
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throwRange(v.Env(), "Expected an integer between " + std::to_string(min) + " and " + std::to_string(max) + " for " +
                            a.name + " but received " + v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

bool requireBool(Arg a) {
  Napi::Value v = a.value;
  bool b = false;
  if (napi_get_value_bool(v.Env(), v, &b) != napi_ok) throwType(v.Env(), a.name, "a boolean", v);
  return b;
}

int64_t checkedElements(Napi::Env env, const char* name, std::initializer_list<int64_t> dims) {
  // 2^32 - 1 elements is the most a typed array holds on every supported Node.
  constexpr int64_t kMax = (int64_t{1} << 32) - 1;
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > kMax) {
      throwRange(env, std::string("The shape of ") + name + " has more elements than a typed array can hold");
    }
  }
  return n;
}

CheckedArray requireArray(Arg a, napi_typedarray_type type, int64_t length, bool optional) {
  return checkArray(a, type, length, true, optional);
}

CheckedArray requireArrayAtLeast(Arg a, napi_typedarray_type type, int64_t minLength, bool optional) {
  return checkArray(a, type, minLength, false, optional);
}

}  // namespace binding
}  // namespace fastmha

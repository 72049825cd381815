// Process-wide functions: the pool's size and what the CPU dispatch chose.
#pragma once

#include <napi.h>

namespace fastmha {
namespace binding {

void defineRuntime(Napi::Env env, Napi::Object exports);

}  // namespace binding
}  // namespace fastmha

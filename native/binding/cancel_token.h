// What lets an aborted forward() skip its arithmetic, or the rest of it: a flag the job shares with a token that
// JavaScript holds and sets when the call's AbortSignal fires (native/core checks it between blocks of work).
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace fastmha {
namespace binding {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// cancelToken() -> token; cancel(token).
void defineCancel(Napi::Env env, Napi::Object exports);

// The flag behind a token, or null for undefined; anything else is a TypeError (never taken for a token).
CancelFlag cancelFlag(Napi::Value token);

}  // namespace binding
}  // namespace fastmha

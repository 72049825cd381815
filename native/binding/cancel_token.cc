#include "cancel_token.h"

namespace fastmha {
namespace binding {
namespace {

// Tags tokens, so that another native object (an External or a wrapped Layer) is never read as one.
constexpr napi_type_tag kTokenTag = {0x6d1f0c2a4b8e4f31ULL, 0x9a7c52e1d3b06f84ULL};

using Token = Napi::External<CancelFlag>;

Napi::Value cancelToken(const Napi::CallbackInfo& info) {
  Token token = Token::New(info.Env(), new CancelFlag(std::make_shared<std::atomic<bool>>(false)),
                           [](Napi::Env, CancelFlag* flag) { delete flag; });
  token.TypeTag(&kTokenTag);
  return token;
}

Napi::Value cancel(const Napi::CallbackInfo& info) {
  if (CancelFlag flag = cancelFlag(info[0])) flag->store(true, std::memory_order_relaxed);
  return info.Env().Undefined();
}

}  // namespace

CancelFlag cancelFlag(Napi::Value token) {
  if (token.IsUndefined()) return nullptr;
  if (!token.IsExternal() || !token.As<Napi::Object>().CheckTypeTag(&kTokenTag)) {
    throw Napi::TypeError::New(token.Env(), "fastmha: expected a cancel token");
  }
  return *token.As<Token>().Data();
}

void defineCancel(Napi::Env env, Napi::Object exports) {
  exports.Set("cancelToken", Napi::Function::New<cancelToken>(env, "cancelToken"));
  exports.Set("cancel", Napi::Function::New<cancel>(env, "cancel"));
}

}  // namespace binding
}  // namespace fastmha

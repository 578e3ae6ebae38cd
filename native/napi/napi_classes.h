// The JS-visible objects: NativeModel and NativeContext (typed in src/runtime/addon.d.ts).
#pragma once
#include <napi.h>

#include <memory>

#include "context.h"
#include "encoder_context.h"
#include "model.h"

namespace potron {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<Model> model);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  Napi::Value CreateContext(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  const std::shared_ptr<Model>& live(Napi::Env env) const;
  static Napi::Value metadata_value(Napi::Env env, const Model& m);

  std::shared_ptr<Model> model_;  // contexts hold their own reference, so close() is safe
};

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::unique_ptr<Context> ctx);
  explicit ContextWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value SeqRemove(const Napi::CallbackInfo& info);
  Napi::Value SeqCopy(const Napi::CallbackInfo& info);
  Napi::Value SeqSave(const Napi::CallbackInfo& info);
  Napi::Value SeqRestore(const Napi::CallbackInfo& info);
  Napi::Value SeqPosMax(const Napi::CallbackInfo& info);
  Napi::Value SeqWindowFrom(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Context& idle(Napi::Env env);  // open and not decoding, or throws

  std::unique_ptr<Context> ctx_;
  bool busy_ = false;
  uint32_t kv_used_at_start_ = 0;  // state() while a decode runs: the cache as it began
  // decode(..., out) writes here off the JS thread and copies into `out` on it, so a buffer the
  // caller detaches or transfers meanwhile is never written after it is freed
  std::shared_ptr<std::vector<float>> scratch_ = std::make_shared<std::vector<float>>();
};

// NativeEncoder: an embedding model and the context that runs it, loaded together.
class EncoderWrap : public Napi::ObjectWrap<EncoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::unique_ptr<EncoderContext> ctx);
  explicit EncoderWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  EncoderContext& live(Napi::Env env);

  std::shared_ptr<EncoderContext> ctx_;  // an encode in flight holds it too
  bool busy_ = false;
};

// A GGUF file's metadata as a plain object (numeric arrays as typed arrays).
Napi::Value gguf_metadata_value(Napi::Env env, const GgufFile& f);
// An optional non-negative integer option.
uint32_t opt_u32(Napi::Object o, const char* key, uint32_t dflt);

}  // namespace potron

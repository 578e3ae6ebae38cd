#include <cstring>
#include <string>

#include "napi_classes.h"
#include "napi_util.h"

namespace potron {

Napi::Function EncoderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeEncoder",
                     {InstanceMethod<&EncoderWrap::Info>("info"), InstanceMethod<&EncoderWrap::Metadata>("metadata"),
                      InstanceMethod<&EncoderWrap::Encode>("encode"), InstanceMethod<&EncoderWrap::Abort>("abort"),
                      InstanceMethod<&EncoderWrap::Close>("close")});
}

Napi::Object EncoderWrap::NewInstance(Napi::Env env, std::unique_ptr<EncoderContext> ctx) {
  auto* holder = new std::unique_ptr<EncoderContext>(std::move(ctx));
  return env.GetInstanceData<AddonData>()->encoder_ctor.New({Napi::External<std::unique_ptr<EncoderContext>>::New(env, holder)});
}

EncoderWrap::EncoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EncoderWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) throw_js(info.Env(), "ERR_INVALID_ARG", "use loadEncoder() to create an encoder");
  auto* holder = info[0].As<Napi::External<std::unique_ptr<EncoderContext>>>().Data();
  ctx_ = std::move(*holder);
  delete holder;
}

EncoderContext& EncoderWrap::live(Napi::Env env) {
  if (!ctx_) throw_js(env, "ERR_CLOSED", "the encoder is closed");
  return *ctx_;
}

Napi::Value EncoderWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EncoderContext& ctx = live(env);
  const EncoderModel& m = ctx.model();
  const EncoderHParams& hp = m.hp();
  Napi::Object o = Napi::Object::New(env);
  o.Set("arch", hp.arch);
  o.Set("format", m.format());
  if (m.format() == "hf") o.Set("dir", m.hf_dir());
  o.Set("nVocab", hp.n_vocab);
  o.Set("nCtxTrain", hp.n_ctx_train);
  o.Set("nEmbd", hp.n_embd);
  o.Set("nLayer", hp.n_layer);
  o.Set("nHead", hp.n_head);
  o.Set("nFf", hp.n_ff);
  o.Set("pooling", pooling_name(hp.pooling));
  o.Set("nOut", m.n_out());
  o.Set("nUbatch", ctx.params().n_ubatch);
  o.Set("threads", ctx.params().n_threads);
  o.Set("flashAttn", ctx.params().flash_attn);
  o.Set("weightType", m.weight_type());
  o.Set("dtype", m.dtype());
  o.Set("weightBytes", static_cast<double>(m.weight_bytes()));
  o.Set("mappedBytes", static_cast<double>(m.mapped_bytes()));
  o.Set("repackedBytes", static_cast<double>(m.repacked_bytes()));
  return o;
}

Napi::Value EncoderWrap::Metadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EncoderContext& ctx = live(env);
  const EncoderModel& m = ctx.model();
  if (!m.gguf()) {
    // HF directory: the record hf_encoder.cpp built, as a plain object
    Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
    return json.Get("parse").As<Napi::Function>().Call(json, {Napi::String::New(env, m.hf_metadata_json())});
  }
  return guarded(env, [&] { return gguf_metadata_value(env, *m.gguf()); });
}

// encode(inputs: Int32Array[], types?: Int32Array[]): Promise<Float32Array>, inputs.length x nOut
// (pooled vectors, or a reranker's scores). The ids are copied on the JS thread; the work runs on
// the encoder's compute thread.
Napi::Value EncoderWrap::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  if (busy_) throw_js(env, "ERR_BUSY", "an encode is running on this encoder; await it first");
  if (info.Length() < 1 || !info[0].IsArray()) throw_js(env, "ERR_INVALID_ARG", "encode(inputs): inputs must be an array of Int32Array");
  auto int32_arrays = [&](Napi::Array arr, const char* what) {
    std::vector<std::vector<int32_t>> out(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        throw_js(env, "ERR_INVALID_ARG", std::string(what) + " " + std::to_string(i) + " must be an Int32Array");
      }
      auto ta = v.As<Napi::Int32Array>();
      out[i].assign(ta.Data(), ta.Data() + ta.ElementLength());
    }
    return out;
  };
  auto inputs = std::make_shared<std::vector<std::vector<int32_t>>>(int32_arrays(info[0].As<Napi::Array>(), "input"));
  auto types = std::make_shared<std::vector<std::vector<int32_t>>>();
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsArray()) throw_js(env, "ERR_INVALID_ARG", "encode(inputs, types): types must be an array of Int32Array");
    *types = int32_arrays(info[1].As<Napi::Array>(), "token types of input");
  }
  std::shared_ptr<EncoderContext> ctx = ctx_;
  ctx->reset_abort();
  busy_ = true;
  auto out = std::make_shared<std::vector<float>>();
  // the wrapper stays alive while the worker holds a reference to its JS object
  auto self_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));
  auto* w = new PromiseWorker(
      env, [ctx, inputs, types, out] { *out = ctx->encode(*inputs, *types); },
      [out](Napi::Env env) -> Napi::Value {
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, out->size() * sizeof(float));
        if (!out->empty()) std::memcpy(ab.Data(), out->data(), out->size() * sizeof(float));
        return Napi::Float32Array::New(env, out->size(), ab, 0);
      },
      [this, self_ref] {
        busy_ = false;
        self_ref->Reset();
      });
  w->Queue();
  return w->promise();
}

Napi::Value EncoderWrap::Abort(const Napi::CallbackInfo& info) {
  if (ctx_) ctx_->request_abort();
  return info.Env().Undefined();
}

Napi::Value EncoderWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busy_) throw_js(env, "ERR_BUSY", "an encode is running on this encoder; await it before closing");
  ctx_.reset();
  return env.Undefined();
}

}  // namespace potron

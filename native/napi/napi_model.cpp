#include <cstring>
#include <string>

#include "backend.h"
#include "napi_classes.h"
#include "napi_util.h"

namespace potron {

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceMethod<&ModelWrap::Info>("info"), InstanceMethod<&ModelWrap::Metadata>("metadata"),
                      InstanceMethod<&ModelWrap::CreateContext>("createContext"), InstanceMethod<&ModelWrap::Close>("close")});
}

Napi::Object ModelWrap::NewInstance(Napi::Env env, std::shared_ptr<Model> model) {
  auto* holder = new std::shared_ptr<Model>(std::move(model));
  return env.GetInstanceData<AddonData>()->model_ctor.New({Napi::External<std::shared_ptr<Model>>::New(env, holder)});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) throw_js(info.Env(), "ERR_INVALID_ARG", "use loadModel() to create a model");
  auto* holder = info[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  model_ = std::move(*holder);
  delete holder;
}

const std::shared_ptr<Model>& ModelWrap::live(Napi::Env env) const {
  if (!model_) throw_js(env, "ERR_CLOSED", "the model is closed");
  return model_;
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Model& m = *live(env);
  const GemmaHParams& hp = m.hp();
  Napi::Object o = Napi::Object::New(env);
  o.Set("arch", hp.arch);
  o.Set("nVocab", hp.n_vocab);
  o.Set("nCtxTrain", hp.n_ctx_train);
  o.Set("format", m.format());
  if (m.format() == "hf") o.Set("dir", m.hf_dir());
  o.Set("weightType", m.weight_type());
  o.Set("dtype", m.dtype());
  o.Set("weightBytes", static_cast<double>(m.weight_bytes()));
  o.Set("mappedBytes", static_cast<double>(m.mapped_bytes()));
  o.Set("repackedBytes", static_cast<double>(m.repacked_bytes()));
  o.Set("device", device_value(env, m.device()));
  // where each layer's weights and KV cache live, and the output layer's (input embeddings: the CPU)
  Napi::Array layer_devs = Napi::Array::New(env, hp.n_layer);
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    ggml_backend_dev_t d = m.layer_device(il);
    layer_devs.Set(il, d ? ggml_backend_dev_name(d) : "CPU");
  }
  o.Set("layerDevices", layer_devs);
  o.Set("outputDevice", m.output_device() ? ggml_backend_dev_name(m.output_device()) : "CPU");
  o.Set("deviceWeightBytes", static_cast<double>(m.device_weight_bytes()));
  Napi::Object h = Napi::Object::New(env);
  h.Set("nEmbd", hp.n_embd);
  h.Set("nLayer", hp.n_layer);
  h.Set("nHead", hp.n_head);
  h.Set("nHeadKv", hp.n_head_kv);
  h.Set("headDim", hp.head_dim);
  Napi::Array ff = Napi::Array::New(env, hp.n_ff.size());
  for (uint32_t i = 0; i < hp.n_ff.size(); ++i) ff.Set(i, hp.n_ff[i]);
  h.Set("nFf", ff);
  h.Set("rmsEps", hp.rms_eps);
  h.Set("embdScale", hp.embd_scale);
  h.Set("attnSoftcap", hp.attn_softcap);
  h.Set("finalSoftcap", hp.final_softcap);
  h.Set("queryPreAttnScalar", hp.query_pre_attn_scalar);
  h.Set("slidingWindow", hp.sliding_window);
  Napi::Array swa = Napi::Array::New(env, hp.layer_is_swa.size());
  for (uint32_t i = 0; i < hp.layer_is_swa.size(); ++i) swa.Set(i, Napi::Boolean::New(env, hp.layer_is_swa[i]));
  h.Set("layerIsSwa", swa);
  h.Set("ropeBase", hp.rope_base);
  h.Set("ropeBaseSwa", hp.rope_base_swa);
  h.Set("ropeFreqScale", hp.rope_freq_scale);
  h.Set("ropeFreqScaleSwa", hp.rope_freq_scale_swa);
  h.Set("hasPostNorms", hp.has_post_norms);
  h.Set("hasQkNorm", hp.has_qk_norm);
  h.Set("tiedOutput", hp.tied_output);
  o.Set("hparams", h);
  return o;
}

static Napi::Value scalar_value(Napi::Env env, GgufType t, double v) {
  if (t == GgufType::BOOL) return Napi::Boolean::New(env, v != 0);
  return Napi::Number::New(env, v);
}

template <typename T>
static Napi::Value typed_copy(Napi::Env env, const uint8_t* data, uint64_t n, napi_typedarray_type kind) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(T));
  if (n) std::memcpy(ab.Data(), data, n * sizeof(T));  // an empty buffer's Data() is null
  return Napi::TypedArrayOf<T>::New(env, n, ab, 0, kind);
}

static Napi::Value array_value(Napi::Env env, const GgufValue& v) {
  switch (v.elem_type) {
    case GgufType::STRING: {
      Napi::Array a = Napi::Array::New(env, v.strings.size());
      for (size_t i = 0; i < v.strings.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, v.strings[i].data(), v.strings[i].size()));
      return a;
    }
    case GgufType::UINT8: return typed_copy<uint8_t>(env, v.data, v.count, napi_uint8_array);
    case GgufType::INT8: return typed_copy<int8_t>(env, v.data, v.count, napi_int8_array);
    case GgufType::UINT16: return typed_copy<uint16_t>(env, v.data, v.count, napi_uint16_array);
    case GgufType::INT16: return typed_copy<int16_t>(env, v.data, v.count, napi_int16_array);
    case GgufType::UINT32: return typed_copy<uint32_t>(env, v.data, v.count, napi_uint32_array);
    case GgufType::INT32: return typed_copy<int32_t>(env, v.data, v.count, napi_int32_array);
    case GgufType::FLOAT32: return typed_copy<float>(env, v.data, v.count, napi_float32_array);
    case GgufType::FLOAT64: return typed_copy<double>(env, v.data, v.count, napi_float64_array);
    default: {  // bool, 64-bit integers: plain arrays of booleans / numbers
      Napi::Array a = Napi::Array::New(env, v.count);
      for (uint64_t i = 0; i < v.count; ++i) a.Set(static_cast<uint32_t>(i), scalar_value(env, v.elem_type, v.element(i)));
      return a;
    }
  }
}

Napi::Value ModelWrap::Metadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Model& m = *live(env);
  return guarded(env, [&] { return metadata_value(env, m); });
}

Napi::Value ModelWrap::metadata_value(Napi::Env env, const Model& m) {
  if (!m.gguf()) {
    // HF directory: the record hf_config.cpp built, as a plain object
    Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
    return json.Get("parse").As<Napi::Function>().Call(json, {Napi::String::New(env, m.hf_metadata_json())});
  }
  return gguf_metadata_value(env, *m.gguf());
}

Napi::Value gguf_metadata_value(Napi::Env env, const GgufFile& f) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [key, v] : f.metadata()) {
    if (v.type == GgufType::STRING) o.Set(key, Napi::String::New(env, v.strings[0].data(), v.strings[0].size()));
    else if (v.type == GgufType::ARRAY) o.Set(key, array_value(env, v));
    else o.Set(key, scalar_value(env, v.type, v.as_number()));
  }
  return o;
}

uint32_t opt_u32(Napi::Object o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 0xffffffffu) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw_js(o.Env(), "ERR_INVALID_ARG", std::string(key) + " must be a non-negative integer");
  }
  return static_cast<uint32_t>(d);
}

Napi::Value ModelWrap::CreateContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  ContextParams p;
  p.n_ctx = opt_u32(o, "nCtx", p.n_ctx);
  p.n_seq_max = opt_u32(o, "nSeqMax", p.n_seq_max);
  p.n_ubatch = opt_u32(o, "nUbatch", p.n_ubatch);
  p.n_threads = static_cast<int>(opt_u32(o, "threads", 0));
  if (p.n_threads > 512) throw_js(env, "ERR_INVALID_ARG", "threads must be at most 512 (ggml's limit)");
  if (!o.Get("kvType").IsUndefined()) {
    std::string t = o.Get("kvType").ToString();
    if (t == "f16") p.kv_type = GGML_TYPE_F16;
    else if (t == "f32") p.kv_type = GGML_TYPE_F32;
    else throw_js(env, "ERR_INVALID_ARG", "kvType must be 'f16' or 'f32', not '" + t + "'");
  }
  if (!o.Get("flashAttn").IsUndefined()) p.flash_attn = o.Get("flashAttn").ToBoolean();
  if (!o.Get("swaFull").IsUndefined()) p.swa_full = o.Get("swaFull").ToBoolean();

  auto result = std::make_shared<std::unique_ptr<Context>>();
  auto* w = new PromiseWorker(
      env, [model, p, result] { *result = std::make_unique<Context>(model, p); },
      [result](Napi::Env env) -> Napi::Value { return ContextWrap::NewInstance(env, std::move(*result)); });
  w->Queue();
  return w->promise();
}

Napi::Value ModelWrap::Close(const Napi::CallbackInfo& info) {
  model_.reset();
  return info.Env().Undefined();
}

}  // namespace potron

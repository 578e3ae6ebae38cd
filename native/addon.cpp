// Module entry: loadModel() and the classes it hands out.
#include <napi.h>

#include <cstdio>
#include <cstdlib>

#include "backend.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "napi_classes.h"
#include "napi_util.h"

namespace potron {

// loadModel(path): Promise<NativeModel>. Parsing, validation and mmap run off the JS thread.
static Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_js(env, "ERR_INVALID_ARG", "loadModel(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  auto result = std::make_shared<std::shared_ptr<Model>>();
  auto* w = new PromiseWorker(
      env, [path, result] { *result = std::make_shared<Model>(path); },
      [result](Napi::Env env) -> Napi::Value { return ModelWrap::NewInstance(env, std::move(*result)); });
  w->Queue();
  return w->promise();
}

static Napi::Value PhysicalCores(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), physical_cores());
}

static Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, guarded(env, [] {
    ggml_backend_dev_t dev = cpu_device();
    return std::string(ggml_backend_dev_name(dev)) + ": " + ggml_backend_dev_description(dev);
  }));
}

// ggml logs per tensor at info/debug level; keep warnings and errors, everything with POTRON_DEBUG=1.
static void log_callback(ggml_log_level level, const char* text, void*) {
  static ggml_log_level last = GGML_LOG_LEVEL_INFO;
  static const bool verbose = std::getenv("POTRON_DEBUG") != nullptr;
  if (level != GGML_LOG_LEVEL_CONT) last = level;
  if (verbose || last >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ggml_log_set(log_callback, nullptr);
  auto* data = new AddonData();
  data->model_ctor = Napi::Persistent(ModelWrap::Define(env));
  data->context_ctor = Napi::Persistent(ContextWrap::Define(env));
  env.SetInstanceData(data);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("physicalCores", Napi::Function::New(env, PhysicalCores));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo));
  return exports;
}

}  // namespace potron

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return potron::Init(env, exports); }
NODE_API_MODULE(predict_otron_native, InitModule)

// Module entry: loadModel() and the classes it hands out.
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backend.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "napi_classes.h"
#include "napi_util.h"
#include "platform.h"

namespace potron {

static WeightDtype dtype_option(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined()) return WeightDtype::Auto;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "auto") return WeightDtype::Auto;
  if (s == "f32") return WeightDtype::F32;
  if (s == "f16") return WeightDtype::F16;
  if (s == "bf16") return WeightDtype::BF16;
  throw_js(env, "ERR_INVALID_ARG", "dtype must be 'auto', 'f32', 'f16' or 'bf16', not '" + v.ToString().Utf8Value() + "'");
}

// The options object of a load call (an empty one when none is given).
static Napi::Object options_arg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 2 || info[1].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[1].IsObject()) throw_js(info.Env(), "ERR_INVALID_ARG", std::string(fn) + "(path, options): options must be an object");
  return info[1].As<Napi::Object>();
}

static ggml_type float_type_option(Napi::Env env, Napi::Value v, const char* what) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "f32") return GGML_TYPE_F32;
  if (s == "f16") return GGML_TYPE_F16;
  if (s == "bf16") return GGML_TYPE_BF16;
  throw_js(env, "ERR_INVALID_ARG", std::string(what) + " must be 'f32', 'f16' or 'bf16', not '" + v.ToString().Utf8Value() + "'");
}

// dtype, autoDtype, repack and device, for any model family
static ModelOptions model_options(Napi::Env env, Napi::Object o) {
  ModelOptions options;
  options.dtype = dtype_option(env, o.Get("dtype"));
  Napi::Value auto_dtype = o.Get("autoDtype");
  if (!auto_dtype.IsUndefined()) options.auto_float = float_type_option(env, auto_dtype, "autoDtype");
  Napi::Value repack = o.Get("repack");
  if (!repack.IsUndefined() && !repack.IsBoolean()) throw_js(env, "ERR_INVALID_ARG", "repack must be true or false");
  if (repack.IsBoolean()) options.repack = repack.As<Napi::Boolean>();
  Napi::Value device = o.Get("device");
  if (!device.IsUndefined() && !device.IsString()) throw_js(env, "ERR_INVALID_ARG", "device must be a device name (see listDevices())");
  if (device.IsString()) options.device = device.As<Napi::String>().Utf8Value();
  Napi::Value gpu_layers = o.Get("gpuLayers");
  if (!gpu_layers.IsUndefined()) {
    const double n = gpu_layers.IsNumber() ? gpu_layers.As<Napi::Number>().DoubleValue() : -2;
    if (!(n == -1 || (n >= 0 && n <= 2147483647.0 && n == std::floor(n)))) {  // more than the model has: all (llama.cpp's -ngl 999)
      throw_js(env, "ERR_INVALID_ARG", "gpuLayers must be a whole number of layers (or -1 for all of them)");
    }
    options.gpu_layers = static_cast<int32_t>(n);
  }
  return options;
}

// loadModel(path, { dtype, repack }): Promise<NativeModel>. path is a .gguf file or an HF model
// directory. Parsing, validation, mmap and conversions run off the JS thread.
static Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_js(env, "ERR_INVALID_ARG", "loadModel(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  const Napi::Object o = options_arg(info, "loadModel");
  const ModelOptions options = model_options(env, o);
  auto result = std::make_shared<std::shared_ptr<Model>>();
  auto* w = new PromiseWorker(
      env,
      [path, options, result] {
        *result = std::make_shared<Model>(path, options);
        if (!(*result)->hp().causal) {
          throw Error("ERR_UNSUPPORTED_MODEL", path + ": an embedding model (EmbeddingGemma: bidirectional attention), which gives vectors, not text; "
                                                   "load it with loadEmbedder() or serve it with --embedding-model");
        }
      },
      [result](Napi::Env env) -> Napi::Value { return ModelWrap::NewInstance(env, std::move(*result)); });
  w->Queue();
  return w->promise();
}

// loadEncoder(path, { dtype, repack, threads, nUbatch, flashAttn }): Promise<NativeEncoder>, an
// embedding model or reranker (bert, nomic-bert, gemma-embedding: a GGUF or an HF directory) and
// the context that runs it.
static Napi::Value LoadEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_js(env, "ERR_INVALID_ARG", "loadEncoder(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  const Napi::Object o = options_arg(info, "loadEncoder");
  const ModelOptions options = model_options(env, o);
  EncoderContextParams params;
  params.n_threads = static_cast<int>(opt_u32(o, "threads", 0));
  if (params.n_threads > 512) throw_js(env, "ERR_INVALID_ARG", "threads must be at most 512 (ggml's limit)");
  params.n_ubatch = opt_u32(o, "nUbatch", 0);
  if (!o.Get("flashAttn").IsUndefined()) params.flash_attn = o.Get("flashAttn").ToBoolean();
  auto result = std::make_shared<std::unique_ptr<EncoderContext>>();
  auto* w = new PromiseWorker(
      env, [path, options, params, result] {
        *result = std::make_unique<EncoderContext>(std::make_shared<EncoderModel>(path, options), params);
      },
      [result](Napi::Env env) -> Napi::Value { return EncoderWrap::NewInstance(env, std::move(*result)); });
  w->Queue();
  return w->promise();
}

static Napi::Value PhysicalCores(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), physical_cores());
}

// Devices as the JS NativeDevice[] (listDevices, addRpcServer, loadBackend).
static Napi::Array devices_value(Napi::Env env, const std::vector<DeviceInfo>& devices) {
  Napi::Array out = Napi::Array::New(env, devices.size());
  for (uint32_t i = 0; i < devices.size(); ++i) out.Set(i, device_value(env, devices[i]));
  return out;
}

static Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return devices_value(env, guarded(env, [] { return list_devices(); }));
}

// addRpcServer("host:port"): Promise<NativeDevice[]>, the devices of a ggml RPC server, from then
// on in listDevices() and usable as a model's device (a stand-in GPU for tests on CPU machines,
// or a remote one).
static Napi::Value AddRpcServer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_js(env, "ERR_INVALID_ARG", "addRpcServer(endpoint): endpoint must be a 'host:port' string");
  const std::string endpoint = info[0].As<Napi::String>();
  auto result = std::make_shared<std::vector<DeviceInfo>>();
  auto* w = new PromiseWorker(
      env, [endpoint, result] { *result = add_rpc_server(endpoint); },
      [result](Napi::Env env) -> Napi::Value { return devices_value(env, *result); });
  w->Queue();
  return w->promise();
}

// loadBackend(path): NativeDevice[], the devices of a ggml backend library built on its own (the
// optional CUDA package's libggml-cuda.so). Synchronous: src/runtime/native.ts calls it once, as
// the addon loads, before any device is chosen.
static Napi::Value LoadBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_js(env, "ERR_INVALID_ARG", "loadBackend(path): path must be a string");
  const std::string path = info[0].As<Napi::String>();
  return devices_value(env, guarded(env, [&] { return load_backend_library(path); }));
}

static Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::String::New(env, guarded(env, [] {
    ggml_backend_dev_t dev = cpu_device();
    return std::string(ggml_backend_dev_name(dev)) + ": " + ggml_backend_dev_description(dev);
  }));
}

// For the tokenizer's worker thread (src/tokenizer/encoder-worker.ts): it must not take CPU from
// the decode threads of running streams.
static Napi::Value LowerThreadToIdle(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), platform::lower_thread_to_idle());
}

// ggml logs per tensor at info/debug level; keep warnings and errors, everything with POTRON_DEBUG=1.
static void log_callback(ggml_log_level level, const char* text, void*) {
  static ggml_log_level last = GGML_LOG_LEVEL_INFO;
  static const bool verbose = std::getenv("POTRON_DEBUG") != nullptr;
  if (level != GGML_LOG_LEVEL_CONT) last = level;
  if (verbose || last >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

Napi::Object DefineKernels(Napi::Env env);  // napi_kernels.cpp

// Raised whenever the N-API surface (src/runtime/addon.d.ts) changes; src/runtime/native.ts
// refuses an addon of another version (a stale build/ or prebuild) with a clear message.
constexpr int kSurfaceVersion = 12;

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ggml_log_set(log_callback, nullptr);
  auto* data = new AddonData();
  data->model_ctor = Napi::Persistent(ModelWrap::Define(env));
  data->context_ctor = Napi::Persistent(ContextWrap::Define(env));
  data->encoder_ctor = Napi::Persistent(EncoderWrap::Define(env));
  env.SetInstanceData(data);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("loadEncoder", Napi::Function::New(env, LoadEncoder));
  exports.Set("physicalCores", Napi::Function::New(env, PhysicalCores));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo));
  exports.Set("listDevices", Napi::Function::New(env, ListDevices));
  exports.Set("addRpcServer", Napi::Function::New(env, AddRpcServer));
  exports.Set("loadBackend", Napi::Function::New(env, LoadBackend));
  exports.Set("lowerThreadToIdle", Napi::Function::New(env, LowerThreadToIdle));
  exports.Set("kernels", DefineKernels(env));
  exports.Set("surfaceVersion", Napi::Number::New(env, kSurfaceVersion));
  return exports;
}

}  // namespace potron

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return potron::Init(env, exports); }
NODE_API_MODULE(predict_otron_native, InitModule)

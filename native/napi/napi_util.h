// Shared N-API glue: one AsyncWorker per call, resolving a promise; potron::Error becomes a JS
// Error with `code`. Execute() never touches N-API.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

#include "devices.h"
#include "errors.h"

namespace potron {

inline Napi::Error js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

[[noreturn]] inline void throw_js(Napi::Env env, const std::string& code, const std::string& message) {
  throw js_error(env, code, message);
}

// Runs work() on the libuv pool, then resolves with finish(env) on the JS thread.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> finish,
                std::function<void()> after = nullptr)
      : Napi::AsyncWorker(env, "predict-otron"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        finish_(std::move(finish)), after_(std::move(after)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const Error& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "ERR_NO_MEMORY";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "ERR_NATIVE";
      SetError(e.what());
    }
  }

  void OnOK() override {
    if (after_) after_();
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    if (after_) after_();
    deferred_.Reject(js_error(Env(), code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> finish_;
  std::function<void()> after_;
  std::string code_ = "ERR_NATIVE";
};

// Runs fn on the JS thread, turning potron::Error into a thrown JS Error with its code.
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw_js(env, e.code, e.what());
  } catch (const std::bad_alloc&) {
    throw_js(env, "ERR_NO_MEMORY", "out of memory");
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {  // never let a C++ exception cross into N-API
    throw_js(env, "ERR_NATIVE", e.what());
  }
}

// A device as JS sees it (NativeDevice in src/runtime/addon.d.ts).
inline Napi::Object device_value(Napi::Env env, const DeviceInfo& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", d.name);
  o.Set("description", d.description);
  o.Set("backend", d.backend);
  o.Set("kind", d.kind);
  o.Set("memoryFree", static_cast<double>(d.memory_free));
  o.Set("memoryTotal", static_cast<double>(d.memory_total));
  if (d.compute_major >= 0) o.Set("computeCapability", d.compute_major + d.compute_minor / 10.0);
  return o;
}

struct AddonData {
  Napi::FunctionReference model_ctor;
  Napi::FunctionReference context_ctor;
  Napi::FunctionReference encoder_ctor;
};

}  // namespace potron

// kernels: the sampler's whole-vocabulary loops (sampling_kernels.h). These are synchronous on
// purpose: each takes tens of microseconds, less than handing work to another thread would cost.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "napi_util.h"
#include "sampling_kernels.h"

namespace potron {

template <typename T>
static Napi::TypedArrayOf<T> typed_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  const napi_typedarray_type want = std::is_same_v<T, float> ? napi_float32_array : napi_int32_array;
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != want) {
    throw_js(info.Env(), "ERR_INVALID_ARG", std::string(fn) + ": " + what + " must be a " +
                                                (std::is_same_v<T, float> ? "Float32Array" : "Int32Array"));
  }
  return info[i].As<Napi::TypedArrayOf<T>>();
}

static double number_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw_js(info.Env(), "ERR_INVALID_ARG", std::string(fn) + ": " + what + " must be a number");
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

static Napi::Value Argmax(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "argmax", "row");
  if (x.ElementLength() == 0) throw_js(info.Env(), "ERR_INVALID_ARG", "argmax: the row is empty");
  return Napi::Number::New(info.Env(), static_cast<double>(argmax(x.Data(), x.ElementLength())));
}

// topK(row, k, ids, vals) -> count, best first
static Napi::Value TopK(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "topK", "row");
  const double k = number_arg(info, 1, "topK", "k");
  auto ids = typed_arg<int32_t>(info, 2, "topK", "ids");
  auto vals = typed_arg<float>(info, 3, "topK", "vals");
  // range first: converting NaN or 1e20 to size_t is undefined behaviour
  if (!(k >= 0 && k <= 9007199254740992.0) || k != std::floor(k) || ids.ElementLength() < std::min<size_t>(k, x.ElementLength()) ||
      vals.ElementLength() < std::min<size_t>(k, x.ElementLength())) {
    throw_js(info.Env(), "ERR_INVALID_ARG", "topK: k must be an integer >= 0 and ids/vals must hold min(k, row length)");
  }
  return Napi::Number::New(info.Env(), guarded(info.Env(), [&] {
    return static_cast<double>(top_k(x.Data(), x.ElementLength(), static_cast<size_t>(k), ids.Data(), vals.Data()));
  }));
}

static Napi::Value LogPartition(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "logPartition", "row");
  const double scale = number_arg(info, 1, "logPartition", "scale");
  if (x.ElementLength() == 0 || !(scale > 0)) throw_js(info.Env(), "ERR_INVALID_ARG", "logPartition: needs a non-empty row and scale > 0");
  return Napi::Number::New(info.Env(), log_partition(x.Data(), x.ElementLength(), static_cast<float>(scale)));
}

static Napi::Value SampleSoftmax(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "sampleSoftmax", "row");
  const double scale = number_arg(info, 1, "sampleSoftmax", "scale");
  const double u = number_arg(info, 2, "sampleSoftmax", "u");
  if (x.ElementLength() == 0 || !(scale > 0) || !(u >= 0 && u < 1)) {
    throw_js(info.Env(), "ERR_INVALID_ARG", "sampleSoftmax: needs a non-empty row, scale > 0 and u in [0, 1)");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(sample_softmax(x.Data(), x.ElementLength(), static_cast<float>(scale), u)));
}

// topP(row, scale, p, ids, vals) -> count (unordered)
static Napi::Value TopP(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "topP", "row");
  const double scale = number_arg(info, 1, "topP", "scale");
  const double p = number_arg(info, 2, "topP", "p");
  auto ids = typed_arg<int32_t>(info, 3, "topP", "ids");
  auto vals = typed_arg<float>(info, 4, "topP", "vals");
  if (x.ElementLength() == 0 || !(scale > 0) || !(p > 0 && p <= 1) || ids.ElementLength() < x.ElementLength() ||
      vals.ElementLength() < x.ElementLength()) {
    throw_js(info.Env(), "ERR_INVALID_ARG", "topP: needs a non-empty row, scale > 0, p in (0, 1] and ids/vals as long as the row");
  }
  return Napi::Number::New(info.Env(), guarded(info.Env(), [&] {
    return static_cast<double>(top_p(x.Data(), x.ElementLength(), static_cast<float>(scale), p, ids.Data(), vals.Data()));
  }));
}

// selectAtLeast(row, threshold, ids, vals) -> count, in index order
static Napi::Value SelectAtLeast(const Napi::CallbackInfo& info) {
  auto x = typed_arg<float>(info, 0, "selectAtLeast", "row");
  const double threshold = number_arg(info, 1, "selectAtLeast", "threshold");
  auto ids = typed_arg<int32_t>(info, 2, "selectAtLeast", "ids");
  auto vals = typed_arg<float>(info, 3, "selectAtLeast", "vals");
  if (ids.ElementLength() < x.ElementLength() || vals.ElementLength() < x.ElementLength()) {
    throw_js(info.Env(), "ERR_INVALID_ARG", "selectAtLeast: ids and vals must be as long as the row");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(select_at_least(x.Data(), x.ElementLength(), static_cast<float>(threshold), ids.Data(), vals.Data())));
}

Napi::Object DefineKernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("argmax", Napi::Function::New(env, Argmax));
  k.Set("topK", Napi::Function::New(env, TopK));
  k.Set("logPartition", Napi::Function::New(env, LogPartition));
  k.Set("sampleSoftmax", Napi::Function::New(env, SampleSoftmax));
  k.Set("topP", Napi::Function::New(env, TopP));
  k.Set("selectAtLeast", Napi::Function::New(env, SelectAtLeast));
  return k;
}

}  // namespace potron

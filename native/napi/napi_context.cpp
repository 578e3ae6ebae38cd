#include <cmath>
#include <cstdint>
#include <cstring>

#include "napi_classes.h"
#include "napi_util.h"

namespace potron {

Napi::Function ContextWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeContext",
                     {InstanceMethod<&ContextWrap::Decode>("decode"), InstanceMethod<&ContextWrap::Abort>("abort"),
                      InstanceMethod<&ContextWrap::SeqRemove>("seqRemove"), InstanceMethod<&ContextWrap::SeqCopy>("seqCopy"),
                      InstanceMethod<&ContextWrap::SeqSave>("seqSave"), InstanceMethod<&ContextWrap::SeqRestore>("seqRestore"),
                      InstanceMethod<&ContextWrap::SeqPosMax>("seqPosMax"),
                      InstanceMethod<&ContextWrap::SeqWindowFrom>("seqWindowFrom"), InstanceMethod<&ContextWrap::Clear>("clear"),
                      InstanceMethod<&ContextWrap::State>("state"), InstanceMethod<&ContextWrap::Close>("close")});
}

Napi::Object ContextWrap::NewInstance(Napi::Env env, std::unique_ptr<Context> ctx) {
  auto* holder = new std::unique_ptr<Context>(std::move(ctx));
  return env.GetInstanceData<AddonData>()->context_ctor.New({Napi::External<std::unique_ptr<Context>>::New(env, holder)});
}

ContextWrap::ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) throw_js(info.Env(), "ERR_INVALID_ARG", "use model.createContext()");
  auto* holder = info[0].As<Napi::External<std::unique_ptr<Context>>>().Data();
  ctx_ = std::move(*holder);
  delete holder;
}

Context& ContextWrap::idle(Napi::Env env) {
  if (!ctx_) throw_js(env, "ERR_CLOSED", "the context is closed");
  if (busy_) throw_js(env, "ERR_BUSY", "a decode is running on this context; await it first");
  return *ctx_;
}

template <typename T>
static std::vector<T> typed_arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type kind, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != kind) {
    throw_js(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a " +
                                                (kind == napi_int32_array ? "Int32Array" : "Uint8Array"));
  }
  auto ta = info[i].As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(ta.Data(), ta.Data() + ta.ElementLength());
}

static int32_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) throw_js(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be an integer");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  // range first: converting NaN or 1e20 to int32 is undefined behaviour
  if (!(d >= INT32_MIN && d <= INT32_MAX) || d != std::floor(d)) {
    throw_js(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a 32-bit integer");
  }
  return static_cast<int32_t>(d);
}

// decode(tokens, pos, seq, output, out?: Float32Array): Promise<Float32Array>. With `out`, the
// logits end up in it and the result is a view of it: they are computed into this context's
// scratch buffer (reused, so no allocation per call) and copied on the JS thread once done; an
// `out` detached or shrunk meanwhile rejects with ERR_INVALID_ARG. Without, into a new buffer
// that JS then owns.
Napi::Value ContextWrap::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  auto batch = std::make_shared<Batch>();
  batch->tokens = typed_arg<int32_t>(info, 0, napi_int32_array, "tokens");
  batch->pos = typed_arg<int32_t>(info, 1, napi_int32_array, "positions");
  batch->seq = typed_arg<int32_t>(info, 2, napi_int32_array, "sequence ids");
  batch->output = typed_arg<uint8_t>(info, 3, napi_uint8_array, "output flags");
  LogitsDest dest;
  std::shared_ptr<Napi::Reference<Napi::Float32Array>> out_ref;
  std::shared_ptr<std::vector<float>> scratch;
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw_js(env, "ERR_INVALID_ARG", "out must be a Float32Array");
    }
    auto out = info[4].As<Napi::Float32Array>();
    scratch = scratch_;
    size_t wanted = 0;
    for (uint8_t o : batch->output) wanted += o ? 1 : 0;
    wanted *= ctx.model().hp().n_vocab;
    if (out.ElementLength() < wanted) {
      throw_js(env, "ERR_INVALID_ARG", "the output buffer holds " + std::to_string(out.ElementLength()) +
                                           " floats; this batch needs " + std::to_string(wanted) + " (outputs x vocabulary)");
    }
    if (scratch->size() < wanted) scratch->resize(wanted);
    dest = {scratch->data(), scratch->size()};
    out_ref = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(out));
  }
  auto logits = std::make_shared<Logits>();
  Context* raw = &ctx;
  busy_ = true;
  kv_used_at_start_ = ctx.kv().used();
  ctx.reset_abort();
  // The wrapper stays alive while the worker holds a reference to its JS object.
  Napi::ObjectReference self = Napi::Persistent(Value());
  auto self_ref = std::make_shared<Napi::ObjectReference>(std::move(self));
  auto* w = new PromiseWorker(
      env, [raw, batch, logits, dest] { *logits = raw->decode(*batch, dest); },
      [logits, out_ref, scratch](Napi::Env env) -> Napi::Value {
        if (out_ref) {
          Napi::Float32Array out = out_ref->Value();
          if (out.ArrayBuffer().IsDetached() || out.ElementLength() < logits->size) {
            throw_js(env, "ERR_INVALID_ARG", "the output buffer was detached or transferred while the decode ran");
          }
          if (logits->size) std::memcpy(out.Data(), scratch->data(), logits->size * sizeof(float));
          return Napi::Float32Array::New(env, logits->size, out.ArrayBuffer(), out.ByteOffset());
        }
        if (logits->size == 0) return Napi::Float32Array::New(env, 0);
        // Hand the native buffer to JS: the Float32Array views it without a copy.
        auto* owned = new Logits(std::move(*logits));
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
            env, owned->data.get(), owned->size * sizeof(float), [](Napi::Env, void*, Logits* l) { delete l; }, owned);
        return Napi::Float32Array::New(env, owned->size, ab, 0);
      },
      [this, self_ref] {
        busy_ = false;
        self_ref->Reset();
      });
  w->Queue();
  return w->promise();
}

Napi::Value ContextWrap::Abort(const Napi::CallbackInfo& info) {
  if (ctx_) ctx_->request_abort();
  return info.Env().Undefined();
}

// seqRemove(seq, p0, p1): drops positions [p0, p1) of seq; p1 < 0 means to the end.
Napi::Value ContextWrap::SeqRemove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  guarded(env, [&] { ctx.seq_rm(int_arg(info, 0, "seq"), int_arg(info, 1, "p0"), int_arg(info, 2, "p1")); });
  return env.Undefined();
}

// seqCopy(src, dst, p0, p1): dst sees src's cached positions [p0, p1) (shared cells, no copy).
Napi::Value ContextWrap::SeqCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  guarded(env, [&] {
    ctx.seq_cp(int_arg(info, 0, "src"), int_arg(info, 1, "dst"), int_arg(info, 2, "p0"), int_arg(info, 3, "p1"));
  });
  return env.Undefined();
}

// seqSave(seq, p0, p1, slidingOnly?): Uint8Array, a copy of seq's cached rows of [p0, p1)
// (KvCache::seq_save's layout). On the JS thread, as seqCopy: it is a memcpy of the rows
// (18 KiB a position for gemma-3-270m), far cheaper than the decode that would recompute them,
// and the scheduler decides with it synchronously.
Napi::Value ContextWrap::SeqSave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  const int32_t seq = int_arg(info, 0, "seq"), p0 = int_arg(info, 1, "p0"), p1 = int_arg(info, 2, "p1");
  const bool sliding_only = info.Length() > 3 && info[3].ToBoolean();
  auto* rows = new std::vector<uint8_t>(guarded(env, [&] { return ctx.seq_save(seq, p0, p1, sliding_only); }));
  // JS owns the vector's bytes from here (no second copy)
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
      env, rows->data(), rows->size(), [](Napi::Env, void*, std::vector<uint8_t>* r) { delete r; }, rows);
  return Napi::Uint8Array::New(env, buf.ByteLength(), buf, 0);
}

// seqRestore(seq, p0, data): saved positions back as p0, p0 + 1, ... of seq, in free cells.
Napi::Value ContextWrap::SeqRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  const int32_t seq = int_arg(info, 0, "seq"), p0 = int_arg(info, 1, "p0");
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_js(env, "ERR_INVALID_ARG", "data must be a Uint8Array from seqSave()");
  }
  auto data = info[2].As<Napi::Uint8Array>();
  guarded(env, [&] { ctx.seq_restore(seq, p0, data.Data(), data.ByteLength()); });
  return env.Undefined();
}

// ERR_BUSY while a decode runs: the cache is being written on the compute thread.
Napi::Value ContextWrap::SeqPosMax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  return Napi::Number::New(env, guarded(env, [&] { return ctx.seq_pos_max(int_arg(info, 0, "seq")); }));
}

// seqWindowFrom(seq): the first position from which the sliding-window layers still hold every
// position seq holds (0 with one cache for all layers).
Napi::Value ContextWrap::SeqWindowFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Context& ctx = idle(env);
  return Napi::Number::New(env, guarded(env, [&] { return ctx.seq_window_from(int_arg(info, 0, "seq")); }));
}

Napi::Value ContextWrap::Clear(const Napi::CallbackInfo& info) {
  idle(info.Env()).clear();
  return info.Env().Undefined();
}

Napi::Value ContextWrap::State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ctx_) throw_js(env, "ERR_CLOSED", "the context is closed");
  const ContextParams& p = ctx_->params();
  Napi::Object o = Napi::Object::New(env);
  o.Set("nCtx", p.n_ctx);
  o.Set("nSeqMax", p.n_seq_max);
  o.Set("nUbatch", p.n_ubatch);
  o.Set("threads", p.n_threads);
  o.Set("kvType", p.kv_type == GGML_TYPE_F16 ? "f16" : "f32");
  o.Set("flashAttn", p.flash_attn);
  // while a decode runs the compute thread changes the cells: report them as it found them
  o.Set("kvUsed", busy_ ? kv_used_at_start_ : ctx_->kv().used());
  o.Set("kvBytes", static_cast<double>(ctx_->kv().bytes()));
  o.Set("swaFull", p.swa_full);
  // the sliding-window layers' ring (0 cells when one cache serves every layer)
  const KvPool* ring = ctx_->kv().swa();
  o.Set("swaWindow", ring ? ring->window() : 0);
  o.Set("swaCells", ring ? ring->size() : 0);
  o.Set("swaBytes", ring ? static_cast<double>(ring->bytes()) : 0.0);
  o.Set("busy", busy_);
  return o;
}

Napi::Value ContextWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busy_) throw_js(env, "ERR_BUSY", "a decode is running on this context; await it before closing");
  ctx_.reset();
  return env.Undefined();
}

}  // namespace potron

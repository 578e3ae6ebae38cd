#include "weights.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "backend.h"
#include "compute_thread.h"
#include "errors.h"
#include "ggml-alloc.h"

namespace potron {

static bool matmul_type(ggml_type t) {
  switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16:
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K:
    case GGML_TYPE_IQ4_NL: case GGML_TYPE_IQ4_XS:
      return true;
    default:
      return false;
  }
}

static std::string shape_str(const int64_t* ne, int n, bool outermost_first = false) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[outermost_first ? n - 1 - i : i]);
  return s + "]";
}

static bool float_type(ggml_type t) { return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16; }

// A float weight as F32: the file's bytes need not be aligned, so they are copied first.
static void read_f32(const StoredTensor& s, int64_t i0, int64_t n, float* out, std::vector<uint16_t>& raw) {
  if (s.type == GGML_TYPE_F32) {
    std::memcpy(out, s.data + i0 * 4, n * 4);
    return;
  }
  raw.resize(n);
  std::memcpy(raw.data(), s.data + i0 * 2, n * 2);
  if (s.type == GGML_TYPE_F16) ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t*>(raw.data()), out, n);
  else ggml_bf16_to_fp32_row(reinterpret_cast<const ggml_bf16_t*>(raw.data()), out, n);
}

// Fills dst (n elements of type `type`, memory of the model's own) from s: a plain copy, a
// float conversion, and +1 for HF RMSNorm weights (what convert_hf_to_gguf.py stores, so the
// graph needs no variant).
static void convert_into(const StoredTensor& s, ggml_type type, int64_t n, void* dst) {
  if (type == s.type && !s.add_one) {
    std::memcpy(dst, s.data, s.nbytes);
    return;
  }
  const int64_t chunk = 1 << 16;
  std::vector<float> f(chunk);
  std::vector<uint16_t> raw;
  for (int64_t i0 = 0; i0 < n; i0 += chunk) {
    const int64_t m = std::min(chunk, n - i0);
    read_f32(s, i0, m, f.data(), raw);
    if (s.add_one) for (int64_t j = 0; j < m; ++j) f[j] += 1.0f;
    switch (type) {
      case GGML_TYPE_F32: std::memcpy(static_cast<float*>(dst) + i0, f.data(), m * 4); break;
      case GGML_TYPE_F16: ggml_fp32_to_fp16_row(f.data(), static_cast<ggml_fp16_t*>(dst) + i0, m); break;
      // the reference rounding (to nearest even, no flush of subnormals), as gguf-py and torch round
      case GGML_TYPE_BF16: ggml_fp32_to_bf16_row_ref(f.data(), static_cast<ggml_bf16_t*>(dst) + i0, m); break;
      default: throw Error("ERR_NATIVE", "cannot convert to " + std::string(ggml_type_name(type)));
    }
  }
}

Weights::Weights(WeightSource src, ggml_type float_type, bool repack, std::function<std::string(const std::string&)> file_name)
    : src_(std::move(src)), float_type_(float_type), repack_(repack), file_name_(std::move(file_name)) {}

Weights::~Weights() { free_all(); }

void Weights::free_all() {
  for (Repacked& r : repacked_) {
    if (r.buf) ggml_backend_buffer_free(r.buf);
    ggml_free(r.ctx);
  }
  repacked_.clear();
  for (ggml_backend_buffer_t b : device_bufs_) ggml_backend_buffer_free(b);
  device_bufs_.clear();
  if (buf_owned_) ggml_backend_buffer_free(buf_owned_);
  for (ggml_backend_buffer_t b : mapped_bufs_) ggml_backend_buffer_free(b);
  if (ctx_) ggml_free(ctx_);
  buf_owned_ = nullptr;
  ctx_ = nullptr;
  mapped_bufs_.clear();
}

ggml_tensor* Weights::get(const std::string& name, std::vector<int64_t> shape, bool required, ggml_backend_dev_t dev) {
  const StoredTensor* info = src_.find(name);
  if (!info) {
    if (!required) return nullptr;
    throw bad_file(src_.path, "missing tensor '" + file_name_(name) + "'");
  }
  const std::string& path = info->file->path();
  const std::string& fname = info->file_name;
  if (info->type == GGML_TYPE_COUNT) {
    throw bad_file(path, "tensor '" + fname + "' has dtype " + info->type_name + "; F32, F16 and BF16 weights load");
  }
  int64_t want[4] = {1, 1, 1, 1};
  for (size_t i = 0; i < shape.size(); ++i) want[i] = shape[i];
  for (int i = 0; i < 4; ++i) {
    if (info->ne[i] != want[i]) {
      // in the file's own order: ggml's (innermost first) for GGUF, row-major for safetensors
      const bool hf = src_.format == "hf";
      throw bad_file(path, "tensor '" + fname + "' has shape " + shape_str(info->ne, info->n_dims, hf) + ", expected " +
                               shape_str(want, static_cast<int>(shape.size()), hf));
    }
  }
  ggml_type type = info->type;
  if (shape.size() == 1) {
    // Norm weights are applied with ggml_mul on F32 activations: they are held as F32. GGUF
    // files store them so; HF ones are converted (and get their +1) into our own memory.
    if (src_.format == "gguf" && info->type != GGML_TYPE_F32) throw bad_file(path, "tensor '" + fname + "' must be F32");
    type = GGML_TYPE_F32;
  } else {
    // Matrices feed ggml_mul_mat / ggml_get_rows, which abort the process on types they cannot
    // run (integer tensors, say); a hostile file must get an error instead.
    if (!matmul_type(info->type)) {
      throw bad_file(path, "tensor '" + fname + "' has type " + ggml_type_name(info->type) + ", which the runtime cannot multiply");
    }
    if (float_type(info->type) && float_type_ != GGML_TYPE_COUNT) type = float_type_;  // quantized ones stay
  }
  if (!ctx_) {
    ggml_init_params params{ggml_tensor_overhead() * (src_.tensors.size() + 2), nullptr, /*no_alloc=*/true};
    ctx_ = ggml_init(params);
    if (!ctx_) throw Error("ERR_NO_MEMORY", "could not allocate tensor metadata");
  }
  ggml_tensor* t = ggml_new_tensor(ctx_, type, static_cast<int>(shape.size()), want);
  ggml_set_name(t, name.c_str());
  planned_.emplace_back(t, info);
  if (dev) on_device_[t] = dev;
  return t;
}

ggml_tensor* Weights::copy_on(const ggml_tensor* t, ggml_backend_dev_t dev) {
  auto it = std::find_if(planned_.begin(), planned_.end(), [t](const auto& p) { return p.first == t; });
  if (it == planned_.end()) throw Error("ERR_NATIVE", "copy_on: not a declared weight");
  ggml_tensor* c = ggml_dup_tensor(ctx_, t);
  ggml_format_name(c, "%s (%s)", ggml_get_name(t), ggml_backend_dev_name(dev));
  planned_.emplace_back(c, it->second);
  on_device_[c] = dev;
  return c;
}

void Weights::place(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows) {
  try {
    choose_layouts(matrices, rows);
    place_plain();
    upload(rows);
    // on the compute thread: ggml's AMX repacking opens an OpenMP team on the calling thread
    ComputeThread::shared().run([&] { fill_layouts(rows); });
    describe_types(matrices, rows);
  } catch (...) {
    free_all();
    throw;
  }
  planned_.clear();
}

const MappedFile* Weights::mapping_of(const void* p) const {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : src_.files) {
    if (b >= f->data() && b < f->data() + f->size()) return f.get();
  }
  return nullptr;
}

// Weights whose type is the one used stay in the mapping: a CPU buffer over each whole file,
// tensors placed at their offsets. The rest (converted types, HF norms) get one buffer of ours.
void Weights::place_plain() {
  ggml_backend_dev_t dev = cpu_device();
  for (const auto& file : src_.files) {
    std::vector<std::pair<ggml_tensor*, const StoredTensor*>> here;
    size_t max_tensor = 0;
    for (auto& [t, s] : planned_) {
      if (relaid_.count(t) || on_device_.count(t)) continue;
      // safetensors data need not be aligned to its element size; GGUF's is (checked on read)
      const size_t align = t->type == GGML_TYPE_F32 ? 4 : float_type(t->type) ? 2 : 1;
      const bool aligned = reinterpret_cast<uintptr_t>(s->data) % align == 0;
      if (s->file == file.get() && t->type == s->type && !s->add_one && aligned) {
        here.emplace_back(t, s);
        max_tensor = std::max<size_t>(max_tensor, s->nbytes);
      }
    }
    if (here.empty()) continue;
    ggml_backend_buffer_t buf = ggml_backend_dev_buffer_from_host_ptr(dev, const_cast<uint8_t*>(file->data()), file->size(), max_tensor);
    if (!buf) throw Error("ERR_NO_MEMORY", "could not map the weights into a ggml buffer");
    mapped_bufs_.push_back(buf);
    ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    for (auto& [t, s] : here) {
      if (ggml_backend_tensor_alloc(buf, t, const_cast<uint8_t*>(s->data)) != GGML_STATUS_SUCCESS) {
        throw Error("ERR_NO_MEMORY", "could not place tensor " + s->file_name);
      }
      mapped_bytes_ += s->nbytes;
    }
  }
  std::vector<std::pair<ggml_tensor*, const StoredTensor*>> owned;
  for (auto& [t, s] : planned_) {
    if (t->data == nullptr && !relaid_.count(t) && !on_device_.count(t)) owned.emplace_back(t, s);
  }
  if (owned.empty()) return;
  ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
  const size_t align = ggml_backend_buft_get_alignment(buft);
  size_t total = 0;
  for (auto& [t, s] : owned) total += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, t), align);
  buf_owned_ = ggml_backend_buft_alloc_buffer(buft, total);
  owned_bytes_ = total;
  if (!buf_owned_) throw Error("ERR_NO_MEMORY", "could not allocate memory for the converted weights");
  ggml_backend_buffer_set_usage(buf_owned_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  ggml_tallocr alloc = ggml_tallocr_new(buf_owned_);
  for (auto& [t, s] : owned) {
    if (ggml_tallocr_alloc(&alloc, t) != GGML_STATUS_SUCCESS) throw Error("ERR_NO_MEMORY", "could not place tensor " + s->file_name);
    convert_into(*s, t->type, ggml_nelements(t), t->data);
  }
}

// Fills t, allocated in a buffer other than the mapping (a device's, or an extra CPU layout),
// from its stored data (converted where the dtype policy says); the mapped original is then not
// used, so its pages are released, except the embedding table's (still read with get_rows).
void Weights::copy_in(ggml_tensor* t, const StoredTensor& s, bool keep_mapped, std::vector<uint8_t>& tmp) const {
  if (t->type == s.type && !s.add_one) {
    ggml_backend_tensor_set(t, s.data, 0, ggml_nbytes(t));
  } else {
    tmp.resize(ggml_nbytes(t));
    convert_into(s, t->type, ggml_nelements(t), tmp.data());
    ggml_backend_tensor_set(t, tmp.data(), 0, tmp.size());
  }
  const MappedFile* mf = keep_mapped ? nullptr : mapping_of(s.data);
  if (mf) mf->release(s.data - mf->data(), s.nbytes);
}

// Weights a device holds: one buffer of the device's own type per device, each weight copied in
// from the files (the embedding table's pages stay mapped for get_rows when a tied output has
// its copy on the GPU).
void Weights::upload(const ggml_tensor* rows) {
  if (on_device_.empty()) return;
  const StoredTensor* embd_src = nullptr;
  for (auto& [t, s] : planned_) if (t == rows) embd_src = s;
  std::map<ggml_backend_dev_t, std::vector<std::pair<ggml_tensor*, const StoredTensor*>>> by_dev;
  for (auto& [t, s] : planned_) {
    auto d = on_device_.find(t);
    if (d != on_device_.end()) by_dev[d->second].emplace_back(t, s);
  }
  std::vector<uint8_t> tmp;
  for (auto& [dev, tensors] : by_dev) {
    ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
    const size_t align = ggml_backend_buft_get_alignment(buft);
    size_t total = 0;
    for (auto& [t, s] : tensors) total += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, t), align);
    ggml_backend_buffer_t buf = ggml_backend_buft_alloc_buffer(buft, total);
    if (!buf) {
      throw Error("ERR_NO_MEMORY", "could not allocate " + std::to_string(total >> 20) + " MiB of weights on " + ggml_backend_dev_name(dev) +
                                       "; put fewer layers there (gpuLayers / --gpu-layers)");
    }
    device_bufs_.push_back(buf);
    device_bytes_ += ggml_backend_buffer_get_size(buf);
    ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    ggml_tallocr alloc = ggml_tallocr_new(buf);
    for (auto& [t, s] : tensors) {
      if (ggml_tallocr_alloc(&alloc, t) != GGML_STATUS_SUCCESS) throw Error("ERR_NO_MEMORY", "could not place tensor " + s->file_name);
      copy_in(t, *s, s == embd_src, tmp);
    }
  }
}

// ggml's CPU backend multiplies some types faster from a layout of its own: its "extra" buffer
// types, in its order of preference (AMX tiles on CPUs with AMX-INT8, then CPU_REPACK's
// interleaved Q4_0/Q4_K/IQ4_NL on x86 with AVX2). As llama.cpp does, each matrix goes into the
// first one that would multiply it, and its mapped pages are released. The kernels differ from
// the plain ones in rounding too (AMX quantizes activations its own way), so choosing exactly as
// llama.cpp does is also what keeps our logits equal to its logits on every CPU.
static std::vector<ggml_backend_buffer_type_t> extra_buffer_types(ggml_backend_dev_t dev) {
  std::vector<ggml_backend_buffer_type_t> out;
  auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
      ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
  if (!get_extra) return out;
  for (ggml_backend_buffer_type_t* b = get_extra(dev); b && *b; ++b) out.push_back(*b);
  return out;
}

// Whether the device would multiply w from a buffer of type buft (llama.cpp asks the same way).
static bool buft_supports_matmul(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, const ggml_tensor* w) {
  ggml_init_params params{ggml_tensor_overhead() * 4, nullptr, /*no_alloc=*/true};
  ggml_context* ctx = ggml_init(params);
  ggml_tensor* wc = ggml_new_tensor(ctx, w->type, GGML_MAX_DIMS, w->ne);
  ggml_tensor* b = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, w->ne[0], 512, w->ne[2], w->ne[3]);
  ggml_tensor* op = ggml_mul_mat(ctx, wc, b);
  wc->buffer = ggml_backend_buft_alloc_buffer(buft, 0);
  const bool ok = ggml_backend_dev_supports_op(dev, op);
  ggml_backend_buffer_free(wc->buffer);
  ggml_free(ctx);
  return ok;
}

// Decided before place(), so a matrix that goes into an extra layout is never also mapped or
// converted into memory of its own (an F16 copy and its AMX twin would hold it twice).
void Weights::choose_layouts(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows) {
  if (!repack_) return;
  ggml_backend_dev_t dev = cpu_device();
  const std::vector<ggml_backend_buffer_type_t> bufts = extra_buffer_types(dev);
  if (bufts.empty()) return;
  std::map<const ggml_tensor*, const StoredTensor*> stored;
  for (auto& [t, s] : planned_) stored[t] = s;
  for (ggml_tensor** slot : matrices) {
    ggml_tensor* orig = *slot;
    if (on_device_.count(orig)) continue;  // a GPU's layers are not repacked
    auto b = std::find_if(bufts.begin(), bufts.end(), [&](auto buft) { return buft_supports_matmul(dev, buft, orig); });
    if (b == bufts.end()) continue;
    auto r = std::find_if(repacked_.begin(), repacked_.end(), [&](const Repacked& x) { return x.buft == *b; });
    if (r == repacked_.end()) {
      ggml_init_params params{ggml_tensor_overhead() * (matrices.size() + 1), nullptr, /*no_alloc=*/true};
      repacked_.push_back({ggml_init(params), *b, nullptr, {}});
      r = repacked_.end() - 1;
      if (!r->ctx) throw Error("ERR_NO_MEMORY", "could not allocate tensor metadata");
    }
    ggml_tensor* t = ggml_new_tensor(r->ctx, orig->type, GGML_MAX_DIMS, orig->ne);
    ggml_set_name(t, ggml_get_name(orig));
    r->tensors.emplace_back(t, stored.at(orig));
    *slot = t;
    if (orig != rows) relaid_.insert(orig);  // the embedding table stays for get_rows; a tied output gets a copy
  }
}

void Weights::fill_layouts(const ggml_tensor* rows) {
  const StoredTensor* embd_src = nullptr;
  for (auto& [t, s] : planned_) if (t == rows) embd_src = s;
  std::vector<uint8_t> tmp;
  for (Repacked& r : repacked_) {
    r.buf = ggml_backend_alloc_ctx_tensors_from_buft(r.ctx, r.buft);
    if (!r.buf) throw Error("ERR_NO_MEMORY", "could not allocate the repacked weights");
    ggml_backend_buffer_set_usage(r.buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    repacked_bytes_ += ggml_backend_buffer_get_size(r.buf);
    for (auto& [t, s] : r.tensors) copy_in(t, *s, s == embd_src, tmp);  // tensor_set converts the layout
  }
}

// file_type: the files' type of most weight bytes; held_type: the type of most matrix bytes as
// held after the dtype policy (what the matmuls read).
void Weights::describe_types(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows) {
  std::map<std::string, uint64_t> file_bytes, held_bytes;
  for (auto& [t, s] : planned_) file_bytes[ggml_type_name(s->type)] += s->nbytes;
  if (rows) held_bytes[ggml_type_name(rows->type)] += ggml_nbytes(rows);
  for (ggml_tensor* const* w : matrices) {
    if (*w && *w != rows) held_bytes[ggml_type_name((*w)->type)] += ggml_nbytes(*w);
  }
  auto most = [](const std::map<std::string, uint64_t>& m) {
    return m.empty() ? std::string("none")
                     : std::max_element(m.begin(), m.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  };
  file_type_ = most(file_bytes);
  held_type_ = most(held_bytes);
}

}  // namespace potron

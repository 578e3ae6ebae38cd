#include "model.h"

#include <map>

#include "backend.h"
#include "errors.h"

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

static std::string shape_str(const int64_t* ne, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

Model::Model(const std::string& path) : gguf_(std::make_unique<GgufFile>(path)), hp_(GemmaHParams::from_gguf(*gguf_)) {
  const size_t n_weights = gguf_->tensors().size();
  ggml_init_params params{ggml_tensor_overhead() * (n_weights + 1), nullptr, /*no_alloc=*/true};
  ctx_ = ggml_init(params);
  if (!ctx_) throw Error("ERR_NO_MEMORY", "could not allocate tensor metadata");

  const int64_t E = hp_.n_embd, D = hp_.head_dim, H = hp_.n_head, HKV = hp_.n_head_kv;
  const GgufTensorInfo* te = gguf_->tensor("token_embd.weight");
  if (!te) throw bad_file(path, "missing tensor 'token_embd.weight'");
  hp_.n_vocab = static_cast<uint32_t>(te->ne[1]);
  const int64_t V = hp_.n_vocab;

  tok_embd = weight("token_embd.weight", {E, V});
  output_norm = weight("output_norm.weight", {E});
  output = weight("output.weight", {E, V}, false);
  hp_.tied_output = output == nullptr;
  if (!output) output = tok_embd;

  layers.resize(hp_.n_layer);
  for (uint32_t il = 0; il < hp_.n_layer; ++il) {
    GemmaLayer& l = layers[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t F = hp_.n_ff[il];
    l.attn_norm = weight(p + "attn_norm.weight", {E});
    l.wq = weight(p + "attn_q.weight", {E, H * D});
    l.wk = weight(p + "attn_k.weight", {E, HKV * D});
    l.wv = weight(p + "attn_v.weight", {E, HKV * D});
    l.wo = weight(p + "attn_output.weight", {H * D, E});
    l.q_norm = hp_.has_qk_norm ? weight(p + "attn_q_norm.weight", {D}) : nullptr;
    l.k_norm = hp_.has_qk_norm ? weight(p + "attn_k_norm.weight", {D}) : nullptr;
    l.post_attn_norm = hp_.has_post_norms ? weight(p + "post_attention_norm.weight", {E}) : nullptr;
    l.ffn_norm = weight(p + "ffn_norm.weight", {E});
    l.ffn_gate = weight(p + "ffn_gate.weight", {E, F});
    l.ffn_up = weight(p + "ffn_up.weight", {E, F});
    l.ffn_down = weight(p + "ffn_down.weight", {F, E});
    l.post_ffw_norm = hp_.has_post_norms ? weight(p + "post_ffw_norm.weight", {E}) : nullptr;
  }

  place_in_mapping();
  repack_matrices();
}

// Weights stay in the mapping: a CPU buffer over the whole file, tensors placed at their offsets.
void Model::place_in_mapping() {
  const MappedFile& mf = *gguf_->file();
  size_t max_tensor = 0;
  for (const auto& t : gguf_->tensors()) max_tensor = std::max<size_t>(max_tensor, t.nbytes);
  buf_ = ggml_backend_dev_buffer_from_host_ptr(cpu_device(), const_cast<uint8_t*>(mf.data()), mf.size(), max_tensor);
  if (!buf_) throw Error("ERR_NO_MEMORY", "could not map the weights into a ggml buffer");
  ggml_backend_buffer_set_usage(buf_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  for (ggml_tensor* t = ggml_get_first_tensor(ctx_); t; t = ggml_get_next_tensor(ctx_, t)) {
    const GgufTensorInfo* info = gguf_->tensor(ggml_get_name(t));
    ggml_status st = ggml_backend_tensor_alloc(buf_, t, const_cast<uint8_t*>(gguf_->data_base() + info->offset));
    if (st != GGML_STATUS_SUCCESS) throw Error("ERR_NO_MEMORY", "could not place tensor " + info->name);
    weight_bytes_ += info->nbytes;
  }
}

// ggml's CPU backend multiplies some types faster from an interleaved layout (Q4_0, Q4_K and
// IQ4_NL on x86 with AVX2): such matrices are copied into its CPU_REPACK buffer, as llama.cpp
// does, and their mapped pages released. The kernels differ from the plain ones (for Q4_K even
// in rounding), so this is also what keeps our logits equal to llama.cpp's.
static ggml_backend_buffer_type_t repack_buffer_type(ggml_backend_dev_t dev) {
  auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
      ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
  if (!get_extra) return nullptr;
  for (ggml_backend_buffer_type_t* b = get_extra(dev); b && *b; ++b) {
    if (std::string(ggml_backend_buft_name(*b)) == "CPU_REPACK") return *b;
  }
  return nullptr;
}

// Whether the device would multiply w from a buffer of type buft (llama.cpp asks the same way).
static bool repack_supports(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, const ggml_tensor* w) {
  ggml_init_params params{ggml_tensor_overhead() * 4, nullptr, /*no_alloc=*/true};
  ggml_context* ctx = ggml_init(params);
  ggml_tensor* wc = ggml_new_tensor(ctx, w->type, GGML_MAX_DIMS, w->ne);
  ggml_tensor* b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, w->ne[0], 512);
  ggml_tensor* op = ggml_mul_mat(ctx, wc, b);
  wc->buffer = ggml_backend_buft_alloc_buffer(buft, 0);
  const bool ok = ggml_backend_dev_supports_op(dev, op);
  ggml_backend_buffer_free(wc->buffer);
  ggml_free(ctx);
  return ok;
}

void Model::repack_matrices() {
  ggml_backend_dev_t dev = cpu_device();
  ggml_backend_buffer_type_t buft = repack_buffer_type(dev);
  if (!buft) return;
  std::vector<ggml_tensor**> matrices;
  for (GemmaLayer& l : layers) {
    for (ggml_tensor** w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) matrices.push_back(w);
  }
  matrices.push_back(&output);  // when tied, tok_embd stays for get_rows and output gets a copy
  std::vector<std::pair<ggml_tensor**, ggml_tensor*>> moves;  // slot, original
  for (ggml_tensor** slot : matrices) {
    if (repack_supports(dev, buft, *slot)) moves.emplace_back(slot, *slot);
  }
  if (moves.empty()) return;

  ggml_init_params params{ggml_tensor_overhead() * (moves.size() + 1), nullptr, /*no_alloc=*/true};
  ctx_repack_ = ggml_init(params);
  for (auto& [slot, orig] : moves) {
    ggml_tensor* t = ggml_new_tensor(ctx_repack_, orig->type, GGML_MAX_DIMS, orig->ne);
    ggml_set_name(t, ggml_get_name(orig));
    *slot = t;
  }
  buf_repack_ = ggml_backend_alloc_ctx_tensors_from_buft(ctx_repack_, buft);
  if (!buf_repack_) throw Error("ERR_NO_MEMORY", "could not allocate the repacked weights");
  ggml_backend_buffer_set_usage(buf_repack_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  const MappedFile& mf = *gguf_->file();
  for (auto& [slot, orig] : moves) {
    ggml_backend_tensor_set(*slot, orig->data, 0, ggml_nbytes(orig));  // converts the layout
    if (orig == tok_embd) {
      weight_bytes_ += ggml_nbytes(orig);  // a second copy: get_rows still reads the mapped one
    } else {
      mf.release(static_cast<const uint8_t*>(orig->data) - mf.data(), ggml_nbytes(orig));
    }
  }
}

Model::~Model() {
  if (buf_repack_) ggml_backend_buffer_free(buf_repack_);
  if (ctx_repack_) ggml_free(ctx_repack_);
  if (buf_) ggml_backend_buffer_free(buf_);
  if (ctx_) ggml_free(ctx_);
}

ggml_tensor* Model::weight(const std::string& name, std::vector<int64_t> shape, bool required) {
  const GgufTensorInfo* info = gguf_->tensor(name);
  if (!info) {
    if (required) throw bad_file(gguf_->path(), "missing tensor '" + name + "'");
    return nullptr;
  }
  int64_t want[4] = {1, 1, 1, 1};
  for (size_t i = 0; i < shape.size(); ++i) want[i] = shape[i];
  for (int i = 0; i < 4; ++i) {
    if (info->ne[i] != want[i]) {
      throw bad_file(gguf_->path(), "tensor '" + name + "' has shape " + shape_str(info->ne, info->n_dims) + ", expected " +
                                        shape_str(want, static_cast<int>(shape.size())));
    }
  }
  // Norm weights are applied with ggml_mul on F32 activations: only F32 is sensible for them.
  if (shape.size() == 1 && info->type != GGML_TYPE_F32) {
    throw bad_file(gguf_->path(), "tensor '" + name + "' must be F32");
  }
  // Matrices feed ggml_mul_mat / ggml_get_rows, which abort the process on types they cannot
  // run (integer tensors, say); a hostile file must get an error instead.
  if (shape.size() == 2 && !matmul_type(static_cast<ggml_type>(info->type))) {
    throw bad_file(gguf_->path(), "tensor '" + name + "' has type " + ggml_type_name(static_cast<ggml_type>(info->type)) +
                                      ", which the runtime cannot multiply");
  }
  ggml_tensor* t = ggml_new_tensor(ctx_, static_cast<ggml_type>(info->type), static_cast<int>(shape.size()), want);
  ggml_set_name(t, name.c_str());
  return t;
}

std::string Model::weight_type() const {
  std::map<uint32_t, uint64_t> bytes;
  for (const auto& t : gguf_->tensors()) bytes[t.type] += t.nbytes;
  uint32_t best = 0;
  uint64_t most = 0;
  for (auto& [type, n] : bytes) if (n > most) { most = n; best = type; }
  return ggml_type_name(static_cast<ggml_type>(best));
}

}  // namespace potron

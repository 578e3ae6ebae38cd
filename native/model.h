// A Gemma model: hyper-parameters plus named weight tensors that point into the mmap'd file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "hparams.h"

namespace potron {

struct GemmaLayer {
  ggml_tensor* attn_norm;
  ggml_tensor* wq;             // [n_embd, n_head*head_dim]
  ggml_tensor* wk;             // [n_embd, n_head_kv*head_dim]
  ggml_tensor* wv;             // [n_embd, n_head_kv*head_dim]
  ggml_tensor* wo;             // [n_head*head_dim, n_embd]
  ggml_tensor* q_norm;         // [head_dim]      (has_qk_norm)
  ggml_tensor* k_norm;         // [head_dim]      (has_qk_norm)
  ggml_tensor* post_attn_norm; // [n_embd]        (has_post_norms)
  ggml_tensor* ffn_norm;       // [n_embd]
  ggml_tensor* ffn_gate;       // [n_embd, n_ff]
  ggml_tensor* ffn_up;         // [n_embd, n_ff]
  ggml_tensor* ffn_down;       // [n_ff, n_embd]
  ggml_tensor* post_ffw_norm;  // [n_embd]        (has_post_norms)
};

class Model {
 public:
  explicit Model(const std::string& path);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const GemmaHParams& hp() const { return hp_; }
  const GgufFile& gguf() const { return *gguf_; }
  size_t weight_bytes() const { return weight_bytes_; }
  std::string weight_type() const;   // the type of most weight bytes (e.g. "q8_0")

  ggml_tensor* tok_embd = nullptr;     // [n_embd, n_vocab]
  ggml_tensor* output_norm = nullptr;  // [n_embd]
  ggml_tensor* output = nullptr;       // [n_embd, n_vocab] (tok_embd when tied)
  std::vector<GemmaLayer> layers;

 private:
  ggml_tensor* weight(const std::string& name, std::vector<int64_t> shape, bool required = true);
  void place_in_mapping();
  void repack_matrices();

  std::unique_ptr<GgufFile> gguf_;
  GemmaHParams hp_;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buf_ = nullptr;
  ggml_context* ctx_repack_ = nullptr;         // copies of matrices in ggml's CPU_REPACK layout
  ggml_backend_buffer_t buf_repack_ = nullptr;
  size_t weight_bytes_ = 0;
};

}  // namespace potron

// A text encoder (an embedding model or a reranker) with its named weights, from a GGUF file as
// llama.cpp's converter lays it out or from an HF directory: one of the BERT family
// (encoder_hparams.h, formats/hf_encoder.h), or EmbeddingGemma, whose body is a Gemma Model
// read bidirectionally (models/model.h) and whose hp() here holds the shape and pooling.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "encoder_hparams.h"
#include "gguf.h"
#include "model.h"
#include "weights.h"

namespace potron {

struct EncoderLayer {
  ggml_tensor* wqkv;     // [E, 3E]  fused (nomic-bert), or null and wq/wk/wv
  ggml_tensor* bqkv;     // [3E]     (optional)
  ggml_tensor* wq;       // [E, E]
  ggml_tensor* wk;
  ggml_tensor* wv;
  ggml_tensor* bq;       // [E]      (optional)
  ggml_tensor* bk;
  ggml_tensor* bv;
  ggml_tensor* wo;       // [E, E]
  ggml_tensor* bo;       // [E]      (optional)
  ggml_tensor* attn_out_norm;    // [E]  LayerNorm after the residual
  ggml_tensor* attn_out_norm_b;
  ggml_tensor* ffn_up;   // [E, F]
  ggml_tensor* ffn_up_b; // [F]      (optional)
  ggml_tensor* ffn_gate; // [E, F]   (swiglu)
  ggml_tensor* ffn_down; // [F, E]
  ggml_tensor* ffn_down_b;  // [E]   (optional)
  ggml_tensor* layer_out_norm;   // [E]
  ggml_tensor* layer_out_norm_b;
};

class EncoderModel {
 public:
  EncoderModel(const std::string& path, const ModelOptions& options = {});

  const EncoderHParams& hp() const { return hp_; }
  const GgufFile* gguf() const { return gemma_ ? gemma_->gguf() : gguf_.get(); }  // null for HF directories
  const std::string& format() const { return format_; }             // "gguf" | "hf"
  const std::string& hf_dir() const { return hf_dir_; }             // absolute; empty for GGUF
  const std::string& hf_metadata_json() const { return metadata_json_; }
  size_t weight_bytes() const { return gemma_ ? gemma_->weight_bytes() : weights_->bytes(); }
  size_t mapped_bytes() const { return gemma_ ? gemma_->mapped_bytes() : weights_->mapped_bytes(); }
  size_t repacked_bytes() const { return gemma_ ? gemma_->repacked_bytes() : weights_->repacked_bytes(); }
  const std::string& weight_type() const { return gemma_ ? gemma_->weight_type() : weights_->file_type(); }
  const std::string& dtype() const { return gemma_ ? gemma_->dtype() : weights_->held_type(); }

  // EmbeddingGemma's body (null for the BERT family, whose weights follow)
  const Model* gemma() const { return gemma_.get(); }

  ggml_tensor* tok_embd = nullptr;    // [E, V]
  ggml_tensor* type_embd = nullptr;   // [E, n_token_types] (optional; inputs are all type 0)
  ggml_tensor* pos_embd = nullptr;    // [E, n_ctx_train]   (learned positions)
  ggml_tensor* embd_norm = nullptr;   // [E]
  ggml_tensor* embd_norm_b = nullptr;
  std::vector<EncoderLayer> layers;
  // a reranker's classification head (rank pooling): tanh(cls * h_cls + cls_b), then cls_out
  ggml_tensor* cls = nullptr;         // [E, E]      (optional: heads with one layer)
  ggml_tensor* cls_b = nullptr;       // [E]
  ggml_tensor* cls_out = nullptr;     // [E, n_cls_out]
  ggml_tensor* cls_out_b = nullptr;   // [n_cls_out]

  // the length of what the graph gives per input: a vector, or a reranker's scores
  uint32_t n_out() const { return hp_.pooling == Pooling::Rank ? hp_.n_cls_out : hp_.n_embd; }

 private:
  void adopt_gemma(const std::string& path, std::unique_ptr<Model> gemma);

  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<Model> gemma_;
  EncoderHParams hp_;
  std::string format_, hf_dir_, metadata_json_;
};

}  // namespace potron

// A Gemma model: hyper-parameters plus named weight tensors, from a GGUF file or an HF model
// directory (config.json + safetensors). Weights stay in the mmap'd files where their type is
// the one used; conversions (dtype policy, HF norms' +1) go into a buffer of the model's own.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "devices.h"
#include "encoder_hparams.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "hparams.h"
#include "weights.h"

namespace potron {

// The type of float weight matrices (the dtype policy, as in the Candle original).
enum class WeightDtype { Auto, F32, F16, BF16 };

struct ModelOptions {
  // Auto: a GGUF keeps its own types; safetensors get auto_float, the device's default, which
  // the caller chooses (the policy is src/runtime/devices.ts: F32 on CPU, BF16/F16 on GPUs).
  // An explicit type converts every F32/F16/BF16 matrix to it; quantized matrices stay.
  WeightDtype dtype = WeightDtype::Auto;
  ggml_type auto_float = GGML_TYPE_F32;
  // Matrices go into ggml's faster CPU layouts (AMX, interleaved) where it has one, as llama.cpp
  // does; false keeps them as stored (llama.cpp's --no-repack).
  bool repack = true;
  // ggml's name of the device that runs the model ("CPU", "CUDA0", "MTL0"); empty: the CPU.
  std::string device;
  // With a device other than the CPU: how many of the model's layers it holds, counting the
  // output layer as one more (llama.cpp's --n-gpu-layers: the last n; 1 is the output layer
  // alone); the rest, and the input embeddings, stay on the CPU. -1: all of them.
  int32_t gpu_layers = -1;
};

// The type float matrices are held in under the policy; GGML_TYPE_COUNT: the files' own.
ggml_type weight_float_type(WeightDtype dtype, bool auto_keeps_types, ggml_type auto_float);

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
  // path: a .gguf file, or a directory holding config.json and safetensors weights.
  explicit Model(const std::string& path, const ModelOptions& options = {});
  // A GGUF file already open (a caller that read its architecture first need not parse it twice).
  explicit Model(std::unique_ptr<GgufFile> gguf, const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const GemmaHParams& hp() const { return hp_; }
  const std::string& format() const { return format_; }          // "gguf" | "hf"
  const GgufFile* gguf() const { return gguf_.get(); }            // null for HF directories
  const std::string& hf_dir() const { return hf_dir_; }          // absolute; empty for GGUF
  const std::string& hf_metadata_json() const { return hf_metadata_json_; }  // GGUF-like record
  size_t weight_bytes() const { return weights_->bytes(); }       // bytes of weights held
  size_t mapped_bytes() const { return weights_->mapped_bytes(); } // of those, used in place from the files
  size_t repacked_bytes() const { return weights_->repacked_bytes(); }  // of those, in ggml's extra layouts
  const std::string& weight_type() const { return weights_->file_type(); }  // the file's type of most weight bytes (e.g. "q8_0")
  const std::string& dtype() const { return weights_->held_type(); }  // the type of most matrix bytes as held
  // an embedding model's (hp().causal false) pooling: its GGUF's pooling_type (stated or not), or
  // its HF directory's sentence-transformers Pooling module
  Pooling pooling() const { return pooling_; }
  bool pooling_stated() const { return pooling_stated_; }
  const DeviceInfo& device() const { return device_; }  // the device that runs it
  // The GPU (any device but the CPU) that holds some of the layers; null when the CPU runs it all.
  ggml_backend_dev_t gpu() const { return gpu_; }
  // Where layer il's weights and KV cache live, and the output layer's: the GPU or null (the CPU).
  ggml_backend_dev_t layer_device(uint32_t il) const { return layer_dev_.empty() ? nullptr : layer_dev_[il]; }
  ggml_backend_dev_t output_device() const { return output_dev_; }
  size_t device_weight_bytes() const { return weights_->device_bytes(); }

  ggml_tensor* tok_embd = nullptr;     // [n_embd, n_vocab]
  ggml_tensor* output_norm = nullptr;  // [n_embd]
  ggml_tensor* output = nullptr;       // [n_embd, n_vocab] (tok_embd when tied)
  std::vector<GemmaLayer> layers;
  // an embedding model's (hp().causal false) projections of the pooled vector, E -> F -> E
  ggml_tensor* dense_2 = nullptr;      // [n_embd, F]
  ggml_tensor* dense_3 = nullptr;      // [F, n_embd]

 private:
  void load_gguf(std::unique_ptr<GgufFile> gguf, const ModelOptions& options);
  void place(WeightSource src, const ModelOptions& options);
  void build();
  void build_dense();

  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Weights> weights_;
  std::string format_, hf_dir_, hf_metadata_json_;
  GemmaHParams hp_;
  Pooling pooling_ = Pooling::Mean;
  DeviceInfo device_;
  ggml_backend_dev_t gpu_ = nullptr, output_dev_ = nullptr;
  std::vector<ggml_backend_dev_t> layer_dev_;
  bool pooling_stated_ = false;
};

}  // namespace potron

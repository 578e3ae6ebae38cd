// The one place where a Gemma model's hyper-parameters get the values its file leaves out.
// The GGUF and config.json loaders only read what is written (GemmaFileParams); fill_family
// completes it the way the reference implementation of that format does (llama.cpp for GGUF,
// transformers for config.json), so the two loaders cannot drift apart again.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hparams.h"

namespace potron {

// Which reference a file's absent fields follow.
enum class Convention {
  Gguf,      // llama.cpp (src/models/gemma*.cpp, llama_hparams defaults)
  HfConfig,  // transformers (GemmaConfig, Gemma2Config, Gemma3TextConfig)
};

// What a file states. Shape fields are required by both loaders; every std::optional is a
// field that files in the wild leave out. A stated 0 means "off" (config.json's null).
struct GemmaFileParams {
  std::string arch;  // gemma | gemma2 | gemma3
  uint32_t n_vocab = 0, n_ctx_train = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
  std::vector<uint32_t> n_ff;  // one per layer
  std::optional<uint32_t> head_dim;
  std::optional<double> rms_eps;
  std::optional<double> attn_softcap, final_softcap;
  std::optional<double> query_pre_attn_scalar;
  std::optional<double> rope_base, rope_base_swa;
  std::optional<double> rope_scale_factor;       // linear RoPE scaling
  std::optional<uint32_t> sliding_window;        // 0: no sliding layers
  std::optional<uint32_t> swa_period;            // every period-th layer is global; 0: none is
  std::optional<std::vector<bool>> layer_is_swa; // one flag per layer, when the file lists them
};

// The complete hyper-parameters. Throws ERR_BAD_MODEL_FILE (naming `path`) for values no Gemma
// can have: non-finite or non-positive scales, a per-layer list of the wrong length.
GemmaHParams fill_family(const GemmaFileParams& f, Convention from, const std::string& path);

}  // namespace potron

// Hyper-parameters of the Gemma family. Variants differ only in these values, so the graph
// builder tests features (attn_softcap > 0, has_qk_norm, ...) and never names a version.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

namespace potron {

struct GemmaHParams {
  std::string arch;               // gemma | gemma2 | gemma3 | gemma-embedding (GGUF general.architecture)
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;
  uint32_t n_embd = 0;            // hidden size
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;          // key/value head size
  std::vector<uint32_t> n_ff;     // per layer
  float rms_eps = 1e-6f;
  float embd_scale = 0;           // sqrt(n_embd): Gemma scales token embeddings
  float attn_softcap = 0;         // 0 = off (Gemma 2: 50)
  float final_softcap = 0;        // 0 = off (Gemma 2: 30)
  float query_pre_attn_scalar = 0;  // queries are scaled by 1/sqrt(this)
  uint32_t sliding_window = 0;    // 0 = every layer global
  std::vector<bool> layer_is_swa; // per layer: sliding-window (local) attention
  float rope_base = 10000.f;      // global layers
  float rope_base_swa = 10000.f;  // sliding-window layers
  float rope_freq_scale = 1.f;    // linear RoPE scaling of global layers (1/factor)
  float rope_freq_scale_swa = 1.f;  // of sliding layers (Gemma 2 scales all layers, Gemma 3 global ones)
  bool has_post_norms = false;    // post_attention_norm and post_ffw_norm (Gemma 2/3)
  bool has_qk_norm = false;       // RMSNorm on q and k heads (Gemma 3)
  bool tied_output = true;        // lm_head shares token_embd
  // false: bidirectional attention without a cache (EmbeddingGemma, an encoder); sliding layers
  // then see a symmetric window, |i - j| <= sliding_window / 2
  bool causal = true;

  // Reads what the file states and fills the rest as llama.cpp does (gemma_family.h).
  static GemmaHParams from_gguf(const GgufFile& f);
};

}  // namespace potron

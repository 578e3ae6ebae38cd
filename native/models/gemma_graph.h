// One ggml graph builder for Gemma 1, 2 and 3 (text) and EmbeddingGemma.
#pragma once
#include "ggml.h"
#include "kv_cache.h"
#include "model.h"

namespace potron {

struct GemmaGraphInputs {
  ggml_tensor* tokens;    // I32 [n_tokens]
  ggml_tensor* pos;       // I32 [n_tokens]
  ggml_tensor* kv_cells;      // I64 [n_tokens]   cache rows the new keys/values go to
  ggml_tensor* kv_cells_swa;  // I64 [n_tokens]   the same in the sliding-window pool (null: one pool)
  ggml_tensor* mask;          // [n_kv, n_tokens] 0 or -inf; global layers
  ggml_tensor* mask_swa;      // [n_kv_swa, n_tokens] sliding-window layers (null when none)
  ggml_tensor* out_ids;   // I32 [n_outputs]  rows whose logits are wanted
};

struct GemmaGraphShape {
  uint32_t n_tokens;
  uint32_t n_kv;      // cells the global layers read
  uint32_t n_kv_swa;  // cells the sliding-window layers read (= n_kv with one pool)
  uint32_t n_outputs;
  bool flash_attn;
};

// Decoding: creates the inputs in ctx and returns the logits tensor [n_vocab, n_outputs].
ggml_tensor* build_gemma_graph(ggml_context* ctx, ggml_cgraph* gf, const Model& model, const KvCache& kv,
                               const GemmaGraphShape& shape, GemmaGraphInputs& in);

// Encoding (an embedding model, hp().causal false): whole sequences in, no cache; each token
// attends to the tokens its masks allow (its own sequence; on sliding layers, within half the
// window either side). Creates the inputs and returns the final-normed hidden states [n_embd, n_tokens].
struct GemmaEncoderInputs {
  ggml_tensor* tokens;    // I32 [T]
  ggml_tensor* pos;       // I32 [T]     position within its sequence
  ggml_tensor* mask;      // [T, T]      0 or -inf; global layers (F16 for flash attention)
  ggml_tensor* mask_swa;  // [T, T]      sliding-window layers (null when none)
};
ggml_tensor* build_gemma_encoder_graph(ggml_context* ctx, const Model& model, uint32_t n_tokens, bool flash_attn,
                                       GemmaEncoderInputs& in);

}  // namespace potron

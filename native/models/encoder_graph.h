// The graph of an encoder: a ubatch of whole sequences in, one pooled vector per sequence out.
// The body is the BERT family's (built here) or EmbeddingGemma's (gemma_graph.h); pooling, a
// reranker's head and Dense projections follow. No KV cache: every token attends to the tokens
// of its own sequence, in both directions.
#pragma once
#include "encoder_model.h"
#include "ggml.h"

namespace potron {

struct EncoderGraphInputs {
  ggml_tensor* tokens;  // I32 [T]
  ggml_tensor* types;   // I32 [T]  token type of each token (null: all type 0)
  ggml_tensor* pos;     // I32 [T]  position within its sequence
  ggml_tensor* mask;    // [T, T]   0 within a sequence, -inf across (F16 for flash attention); null when unused
  ggml_tensor* mask_swa;  // [T, T] Gemma's sliding layers: also -inf beyond half the window (null when none)
  ggml_tensor* mean;    // F32 [T, S] 1/len where token t belongs to sequence s (mean pooling)
  ggml_tensor* rows;    // I32 [S]  the row pooled for each sequence (cls, last)
};

struct EncoderGraphShape {
  uint32_t n_tokens;
  uint32_t n_seqs;
  bool flash_attn;
  bool token_types;  // some input has tokens of a type other than 0
};

// Creates the inputs in ctx and returns the pooled vectors [n_embd, n_seqs], or a reranker's
// scores [n_cls_out, n_seqs].
ggml_tensor* build_encoder_graph(ggml_context* ctx, const EncoderModel& model, const EncoderGraphShape& shape,
                                 EncoderGraphInputs& in);

}  // namespace potron

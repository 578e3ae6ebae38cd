// Hyper-parameters of the BERT family of text encoders (embedding models): BERT itself (bge,
// MiniLM, e5, gte, mxbai, arctic: learned positions, GELU feed-forward) and nomic-bert (rotary
// positions, SwiGLU, fused QKV). The graph builder tests features (rope, swiglu), not names.
#pragma once
#include <cstdint>
#include <string>

#include "gguf.h"

namespace potron {

// How one vector is made from a sequence's token vectors (llama.cpp's llama_pooling_type values).
enum class Pooling : uint32_t { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };

const char* pooling_name(Pooling p);

struct EncoderHParams {
  std::string arch;            // bert | nomic-bert | gemma-embedding (GGUF general.architecture)
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;    // longest input
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_ff = 0;
  uint32_t n_token_types = 0;
  float norm_eps = 1e-12f;     // LayerNorm
  Pooling pooling = Pooling::Mean;
  bool pooling_stated = false; // the file names its pooling (a GGUF without the key gets mean)
  bool rope = false;           // rotary positions (nomic-bert); else learned position embeddings
  float rope_base = 10000.f;
  bool swiglu = false;         // SiLU-gated feed-forward (nomic-bert); else GELU
  uint32_t n_cls_out = 1;      // scores per input of a reranker (rank pooling): the classifier's labels

  uint32_t head_dim() const { return n_embd / n_head; }

  // Reads the file as llama.cpp reads it for these architectures.
  static EncoderHParams from_gguf(const GgufFile& f);
};

// A GGUF's <arch>.pooling_type (mean when absent; *stated says whether it was there).
Pooling gguf_pooling(const GgufFile& f, const std::string& arch, bool* stated);

// Whether a GGUF file's architecture is one of the encoders above (else: a decoder, or unknown).
bool is_encoder_arch(const std::string& arch);

}  // namespace potron

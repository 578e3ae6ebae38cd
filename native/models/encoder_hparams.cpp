#include "encoder_hparams.h"

#include "errors.h"
#include "gguf_keys.h"

namespace potron {

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::None: return "none";
    case Pooling::Mean: return "mean";
    case Pooling::Cls: return "cls";
    case Pooling::Last: return "last";
    case Pooling::Rank: return "rank";
  }
  return "unknown";
}

bool is_encoder_arch(const std::string& arch) { return arch == "bert" || arch == "nomic-bert"; }

Pooling gguf_pooling(const GgufFile& f, const std::string& arch, bool* stated) {
  // A file without a pooling type gets mean pooling, what sentence-transformers uses for a
  // BERT without a pooling config; llama.cpp would hand out per-token vectors instead.
  const std::string key = arch + ".pooling_type";
  const uint32_t pooling = gguf_u32(f, key, static_cast<uint32_t>(Pooling::Mean));
  *stated = f.find(key) != nullptr;
  if (pooling > static_cast<uint32_t>(Pooling::Rank)) throw bad_file(f.path(), "metadata '" + key + "' is out of range");
  return pooling == 0 ? Pooling::Mean : static_cast<Pooling>(pooling);
}

EncoderHParams EncoderHParams::from_gguf(const GgufFile& f) {
  EncoderHParams hp;
  hp.arch = gguf_arch(f);
  if (!is_encoder_arch(hp.arch)) {
    throw Error("ERR_UNSUPPORTED_ARCH", f.path() + ": architecture '" + hp.arch.substr(0, 64) +
                                            "' is not an embedding model we run (bert, nomic-bert and gemma-embedding are)");
  }
  const std::string a = hp.arch + ".";
  hp.n_ctx_train = gguf_u32(f, a + "context_length", 0, true);
  hp.n_embd = gguf_u32(f, a + "embedding_length", 0, true);
  hp.n_layer = gguf_u32(f, a + "block_count", 0, true);
  hp.n_head = gguf_u32(f, a + "attention.head_count", 0, true);
  hp.n_ff = gguf_u32(f, a + "feed_forward_length", 0, true);
  if (gguf_u32(f, a + "attention.head_count_kv", hp.n_head) != hp.n_head) {
    throw bad_file(f.path(), "grouped key/value heads are not part of these encoders (head_count_kv must equal head_count)");
  }
  if (hp.n_embd == 0 || hp.n_embd > (1u << 16) || hp.n_layer == 0 || hp.n_layer > 1024 || hp.n_head == 0 ||
      hp.n_embd % hp.n_head != 0 || hp.n_ff == 0 || hp.n_ff > (1u << 20) || hp.n_ctx_train == 0 || hp.n_ctx_train > (1u << 20)) {
    throw bad_file(f.path(), "inconsistent encoder shape (context, embedding, layers, heads, feed-forward)");
  }
  // llama.cpp requires the epsilon for these architectures
  const std::optional<double> eps = gguf_opt_f64(f, a + "attention.layer_norm_epsilon");
  if (!eps) throw bad_file(f.path(), "missing metadata '" + a + "attention.layer_norm_epsilon'");
  if (!(*eps > 0 && *eps < 1)) throw bad_file(f.path(), "metadata '" + a + "attention.layer_norm_epsilon' is out of range");
  hp.norm_eps = static_cast<float>(*eps);

  hp.pooling = gguf_pooling(f, hp.arch, &hp.pooling_stated);
  // a reranker: as many scores as the classifier has labels (llama.cpp: 1 when none are named)
  if (const GgufValue* labels = f.find(a + "classifier.output_labels")) {
    if (labels->type != GgufType::ARRAY || labels->count == 0 || labels->count > 1024) {
      throw bad_file(f.path(), "metadata '" + a + "classifier.output_labels' must list 1 to 1024 labels");
    }
    hp.n_cls_out = static_cast<uint32_t>(labels->count);
  }

  hp.n_token_types = gguf_u32(f, "tokenizer.ggml.token_type_count", 0);
  if (hp.n_token_types > 1024) throw bad_file(f.path(), "metadata 'tokenizer.ggml.token_type_count' is out of range");

  if (hp.arch == "nomic-bert") {
    hp.rope = true;
    hp.swiglu = true;
    if (const std::optional<double> base = gguf_opt_f64(f, a + "rope.freq_base")) {
      if (!(*base > 0)) throw bad_file(f.path(), "metadata '" + a + "rope.freq_base' must be positive");
      hp.rope_base = static_cast<float>(*base);
    }
  }
  return hp;
}

}  // namespace potron

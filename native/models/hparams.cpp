#include "hparams.h"

#include "errors.h"
#include "gemma_family.h"
#include "gguf_keys.h"

namespace potron {

GemmaHParams GemmaHParams::from_gguf(const GgufFile& f) {
  GemmaFileParams p;
  p.arch = gguf_arch(f);
  if (p.arch != "gemma" && p.arch != "gemma2" && p.arch != "gemma3" && p.arch != "gemma-embedding") {
    throw Error("ERR_UNSUPPORTED_ARCH", f.path() + ": architecture '" + p.arch.substr(0, 64) +
                                            "' is not supported (gemma, gemma2, gemma3 and gemma-embedding are)");
  }
  const bool embedding = p.arch == "gemma-embedding";
  const std::string a = p.arch + ".";
  p.n_ctx_train = gguf_u32(f, a + "context_length", 0, true);
  p.n_embd = gguf_u32(f, a + "embedding_length", 0, true);
  p.n_layer = gguf_u32(f, a + "block_count", 0, true);
  p.n_head = gguf_u32(f, a + "attention.head_count", 0, true);
  p.n_head_kv = gguf_u32(f, a + "attention.head_count_kv", p.n_head);
  if (p.n_embd == 0 || p.n_embd > (1u << 18) || p.n_layer == 0 || p.n_layer > 4096 || p.n_head == 0 || p.n_head > 4096 ||
      p.n_head_kv == 0 || p.n_head % p.n_head_kv != 0 || p.n_ctx_train == 0) {
    throw bad_file(f.path(), "inconsistent attention shape (context, embedding, layers, heads, kv heads)");
  }
  p.head_dim = gguf_opt_u32(f, a + "attention.key_length");
  const uint32_t head_dim = p.head_dim.value_or(p.n_embd / p.n_head);
  if (gguf_u32(f, a + "attention.value_length", head_dim) != head_dim || head_dim > 4096) {
    throw bad_file(f.path(), "key and value head sizes must be equal (and at most 4096)");
  }

  // feed_forward_length: one value, or one per layer
  const GgufValue* ff = gguf_get(f, a + "feed_forward_length", true);
  if (ff->type == GgufType::ARRAY) {
    p.n_ff = gguf_u32_array(f, *ff, a + "feed_forward_length", p.n_layer, 1, 1u << 22);
  } else {
    const uint32_t n = gguf_u32(f, a + "feed_forward_length", 0, true);
    if (n == 0 || n > (1u << 22)) throw bad_file(f.path(), "metadata '" + a + "feed_forward_length' is out of range");
    p.n_ff.assign(p.n_layer, n);
  }

  p.rms_eps = gguf_opt_f64(f, a + "attention.layer_norm_rms_epsilon");
  p.attn_softcap = gguf_opt_f64(f, a + "attn_logit_softcapping");
  p.final_softcap = gguf_opt_f64(f, a + "final_logit_softcapping");
  p.query_pre_attn_scalar = gguf_opt_f64(f, a + "attention.query_pre_attn_scalar");
  p.rope_base = gguf_opt_f64(f, a + "rope.freq_base");
  p.rope_base_swa = gguf_opt_f64(f, a + "rope.freq_base_swa");
  // llama.cpp: the factor applies unless the type says otherwise (absent type means linear);
  // rope.scale_linear is the older key name
  p.rope_scale_factor = gguf_opt_f64(f, a + "rope.scaling.factor");
  if (!p.rope_scale_factor) p.rope_scale_factor = gguf_opt_f64(f, a + "rope.scale_linear");
  if (const GgufValue* st = f.find(a + "rope.scaling.type")) {
    if (st->type != GgufType::STRING) throw bad_file(f.path(), "rope.scaling.type must be a string");
    std::string_view kind = st->as_string();
    if (kind == "none") p.rope_scale_factor.reset();
    else if (kind != "linear") {
      throw Error("ERR_UNSUPPORTED_MODEL", f.path() + ": RoPE scaling '" + std::string(kind.substr(0, 64)) + "' is not supported");
    }
  }

  // llama.cpp scales an EmbeddingGemma's queries by 1/sqrt(head_dim) whatever the file says
  if (embedding) p.query_pre_attn_scalar = head_dim;

  p.sliding_window = gguf_opt_u32(f, a + "attention.sliding_window");
  if (embedding && !p.sliding_window) throw bad_file(f.path(), "missing metadata '" + a + "attention.sliding_window'");
  if (p.sliding_window && *p.sliding_window > (1u << 24)) throw bad_file(f.path(), "metadata '" + a + "attention.sliding_window' is out of range");
  if (const GgufValue* pat = f.find(a + "attention.sliding_window_pattern")) {
    if (pat->type == GgufType::ARRAY) {
      const std::vector<uint32_t> flags = gguf_u32_array(f, *pat, a + "attention.sliding_window_pattern", p.n_layer, 0, 1);
      p.layer_is_swa = std::vector<bool>(flags.begin(), flags.end());
    } else {
      p.swa_period = gguf_u32(f, a + "attention.sliding_window_pattern", 0);
      if (*p.swa_period > 4096) throw bad_file(f.path(), "metadata '" + a + "attention.sliding_window_pattern' is out of range");
    }
  }
  return fill_family(p, Convention::Gguf, f.path());
}

}  // namespace potron

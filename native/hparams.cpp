#include "hparams.h"

#include <cmath>

#include "errors.h"

namespace potron {
namespace {

const GgufValue* get(const GgufFile& f, const std::string& key, bool required) {
  const GgufValue* v = f.find(key);
  if (!v && required) throw bad_file(f.path(), "missing metadata '" + key + "'");
  return v;
}

uint32_t get_u32(const GgufFile& f, const std::string& key, uint32_t dflt, bool required = false) {
  const GgufValue* v = get(f, key, required);
  if (!v) return dflt;
  if (!v->is_number()) throw bad_file(f.path(), "metadata '" + key + "' must be a number");
  double d = v->as_number();
  if (!(d >= 0 && d <= 0xffffffffu) || d != std::floor(d)) throw bad_file(f.path(), "metadata '" + key + "' is out of range");
  return static_cast<uint32_t>(d);
}

float get_f32(const GgufFile& f, const std::string& key, float dflt) {
  const GgufValue* v = get(f, key, false);
  if (!v) return dflt;
  if (!v->is_number()) throw bad_file(f.path(), "metadata '" + key + "' must be a number");
  double d = v->as_number();
  if (!std::isfinite(d)) throw bad_file(f.path(), "metadata '" + key + "' is not finite");
  return static_cast<float>(d);
}

}  // namespace

GemmaHParams GemmaHParams::from_gguf(const GgufFile& f) {
  GemmaHParams hp;
  const GgufValue* arch = get(f, "general.architecture", true);
  if (arch->type != GgufType::STRING) throw bad_file(f.path(), "general.architecture must be a string");
  hp.arch = std::string(arch->as_string());
  if (hp.arch != "gemma" && hp.arch != "gemma2" && hp.arch != "gemma3") {
    throw Error("ERR_UNSUPPORTED_ARCH", f.path() + ": architecture '" + hp.arch +
                                            "' is not supported (gemma, gemma2 and gemma3 are)");
  }
  const std::string a = hp.arch + ".";
  hp.n_ctx_train = get_u32(f, a + "context_length", 0, true);
  hp.n_embd = get_u32(f, a + "embedding_length", 0, true);
  hp.n_layer = get_u32(f, a + "block_count", 0, true);
  hp.n_head = get_u32(f, a + "attention.head_count", 0, true);
  hp.n_head_kv = get_u32(f, a + "attention.head_count_kv", hp.n_head);
  if (hp.n_embd == 0 || hp.n_layer == 0 || hp.n_head == 0 || hp.n_head_kv == 0 || hp.n_layer > 4096 ||
      hp.n_head % hp.n_head_kv != 0) {
    throw bad_file(f.path(), "inconsistent attention shape (embedding, layers, heads, kv heads)");
  }
  hp.head_dim = get_u32(f, a + "attention.key_length", hp.n_embd / hp.n_head);
  if (get_u32(f, a + "attention.value_length", hp.head_dim) != hp.head_dim || hp.head_dim == 0 || hp.head_dim % 2) {
    throw bad_file(f.path(), "key and value head sizes must be equal and even");
  }

  // feed_forward_length: one value, or one per layer
  const GgufValue* ff = get(f, a + "feed_forward_length", true);
  if (ff->type == GgufType::ARRAY) {
    if (ff->count != hp.n_layer || ff->elem_type == GgufType::STRING) throw bad_file(f.path(), "feed_forward_length array does not match block_count");
    for (uint32_t i = 0; i < hp.n_layer; ++i) hp.n_ff.push_back(static_cast<uint32_t>(ff->element(i)));
  } else {
    hp.n_ff.assign(hp.n_layer, get_u32(f, a + "feed_forward_length", 0, true));
  }

  hp.rms_eps = get_f32(f, a + "attention.layer_norm_rms_epsilon", 1e-6f);
  hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
  hp.attn_softcap = get_f32(f, a + "attn_logit_softcapping", 0.f);
  hp.final_softcap = get_f32(f, a + "final_logit_softcapping", 0.f);
  hp.rope_base = get_f32(f, a + "rope.freq_base", 10000.f);
  hp.rope_base_swa = get_f32(f, a + "rope.freq_base_swa", hp.rope_base);
  const float rope_factor = get_f32(f, a + "rope.scaling.factor", 1.f);
  if (const GgufValue* st = f.find(a + "rope.scaling.type")) {
    if (st->type != GgufType::STRING) throw bad_file(f.path(), "rope.scaling.type must be a string");
    std::string_view kind = st->as_string();
    if (kind != "linear" && kind != "none") {
      throw Error("ERR_UNSUPPORTED_MODEL", f.path() + ": RoPE scaling '" + std::string(kind) + "' is not supported");
    }
    if (kind == "linear" && rope_factor > 0) hp.rope_freq_scale = 1.f / rope_factor;
  }

  const bool is_gemma1 = hp.arch == "gemma";
  hp.has_post_norms = !is_gemma1;
  hp.has_qk_norm = hp.arch == "gemma3";

  // Sliding-window layers: the window from the file; the pattern as llama.cpp lays it
  // (Gemma 2: every other layer starting at 0; Gemma 3: all but every 6th), unless the file
  // names a period or gives one flag per layer.
  hp.sliding_window = is_gemma1 ? 0 : get_u32(f, a + "attention.sliding_window", 0);
  hp.layer_is_swa.assign(hp.n_layer, false);
  if (hp.sliding_window > 0) {
    uint32_t period = hp.arch == "gemma2" ? 2 : 6;
    const GgufValue* pat = f.find(a + "attention.sliding_window_pattern");
    if (pat && pat->type == GgufType::ARRAY) {
      if (pat->count != hp.n_layer || pat->elem_type == GgufType::STRING) throw bad_file(f.path(), "sliding_window_pattern does not match block_count");
      for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_is_swa[i] = pat->element(i) != 0;
    } else {
      if (pat) period = get_u32(f, a + "attention.sliding_window_pattern", period);
      for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_is_swa[i] = period == 0 || (i % period < period - 1);
    }
  }

  // query_pre_attn_scalar is not in GGUF files: head_dim, except the 27B models, which use
  // hidden/heads (llama.cpp recognises them by layer count; so do we). A file may state it.
  const bool is_27b = (hp.arch == "gemma2" && hp.n_layer == 46) || (hp.arch == "gemma3" && hp.n_layer == 62);
  hp.query_pre_attn_scalar = get_f32(f, a + "attention.query_pre_attn_scalar",
                                     is_27b ? static_cast<float>(hp.n_embd / hp.n_head) : static_cast<float>(hp.head_dim));
  if (hp.query_pre_attn_scalar <= 0) throw bad_file(f.path(), "query_pre_attn_scalar must be positive");
  return hp;
}

}  // namespace potron

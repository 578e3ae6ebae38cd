#include "hparams.h"

#include <cmath>
#include <optional>

#include "errors.h"
#include "gemma_family.h"

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

std::optional<double> opt_f64(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw bad_file(f.path(), "metadata '" + key + "' must be a number");
  const double d = v->as_number();
  if (!std::isfinite(d)) throw bad_file(f.path(), "metadata '" + key + "' is not finite");
  return d;
}

std::optional<uint32_t> opt_u32(const GgufFile& f, const std::string& key) {
  if (!f.find(key)) return std::nullopt;
  return get_u32(f, key, 0);
}

// A numeric array of n elements, each an integer in [lo, hi] (a file may hold anything).
std::vector<uint32_t> u32_array(const GgufFile& f, const GgufValue& v, const std::string& key, uint32_t n, uint32_t lo, uint32_t hi) {
  if (v.count != n || v.elem_type == GgufType::STRING || v.elem_type == GgufType::ARRAY) {
    throw bad_file(f.path(), "metadata '" + key + "' must list one number per layer (" + std::to_string(n) + ")");
  }
  std::vector<uint32_t> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    const double d = v.element(i);
    if (!(d >= lo && d <= hi) || d != std::floor(d)) {
      throw bad_file(f.path(), "metadata '" + key + "' element " + std::to_string(i) + " must be an integer in " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
    }
    out[i] = static_cast<uint32_t>(d);
  }
  return out;
}

}  // namespace

GemmaHParams GemmaHParams::from_gguf(const GgufFile& f) {
  GemmaFileParams p;
  const GgufValue* arch = get(f, "general.architecture", true);
  if (arch->type != GgufType::STRING) throw bad_file(f.path(), "general.architecture must be a string");
  p.arch = std::string(arch->as_string());
  if (p.arch != "gemma" && p.arch != "gemma2" && p.arch != "gemma3") {
    throw Error("ERR_UNSUPPORTED_ARCH", f.path() + ": architecture '" + p.arch.substr(0, 64) +
                                            "' is not supported (gemma, gemma2 and gemma3 are)");
  }
  const std::string a = p.arch + ".";
  p.n_ctx_train = get_u32(f, a + "context_length", 0, true);
  p.n_embd = get_u32(f, a + "embedding_length", 0, true);
  p.n_layer = get_u32(f, a + "block_count", 0, true);
  p.n_head = get_u32(f, a + "attention.head_count", 0, true);
  p.n_head_kv = get_u32(f, a + "attention.head_count_kv", p.n_head);
  if (p.n_embd == 0 || p.n_embd > (1u << 18) || p.n_layer == 0 || p.n_layer > 4096 || p.n_head == 0 || p.n_head > 4096 ||
      p.n_head_kv == 0 || p.n_head % p.n_head_kv != 0 || p.n_ctx_train == 0) {
    throw bad_file(f.path(), "inconsistent attention shape (context, embedding, layers, heads, kv heads)");
  }
  p.head_dim = opt_u32(f, a + "attention.key_length");
  const uint32_t head_dim = p.head_dim.value_or(p.n_embd / p.n_head);
  if (get_u32(f, a + "attention.value_length", head_dim) != head_dim || head_dim > 4096) {
    throw bad_file(f.path(), "key and value head sizes must be equal (and at most 4096)");
  }

  // feed_forward_length: one value, or one per layer
  const GgufValue* ff = get(f, a + "feed_forward_length", true);
  if (ff->type == GgufType::ARRAY) {
    p.n_ff = u32_array(f, *ff, a + "feed_forward_length", p.n_layer, 1, 1u << 22);
  } else {
    const uint32_t n = get_u32(f, a + "feed_forward_length", 0, true);
    if (n == 0 || n > (1u << 22)) throw bad_file(f.path(), "metadata '" + a + "feed_forward_length' is out of range");
    p.n_ff.assign(p.n_layer, n);
  }

  p.rms_eps = opt_f64(f, a + "attention.layer_norm_rms_epsilon");
  p.attn_softcap = opt_f64(f, a + "attn_logit_softcapping");
  p.final_softcap = opt_f64(f, a + "final_logit_softcapping");
  p.query_pre_attn_scalar = opt_f64(f, a + "attention.query_pre_attn_scalar");
  p.rope_base = opt_f64(f, a + "rope.freq_base");
  p.rope_base_swa = opt_f64(f, a + "rope.freq_base_swa");
  // llama.cpp: the factor applies unless the type says otherwise (absent type means linear);
  // rope.scale_linear is the older key name
  p.rope_scale_factor = opt_f64(f, a + "rope.scaling.factor");
  if (!p.rope_scale_factor) p.rope_scale_factor = opt_f64(f, a + "rope.scale_linear");
  if (const GgufValue* st = f.find(a + "rope.scaling.type")) {
    if (st->type != GgufType::STRING) throw bad_file(f.path(), "rope.scaling.type must be a string");
    std::string_view kind = st->as_string();
    if (kind == "none") p.rope_scale_factor.reset();
    else if (kind != "linear") {
      throw Error("ERR_UNSUPPORTED_MODEL", f.path() + ": RoPE scaling '" + std::string(kind.substr(0, 64)) + "' is not supported");
    }
  }

  p.sliding_window = opt_u32(f, a + "attention.sliding_window");
  if (p.sliding_window && *p.sliding_window > (1u << 24)) throw bad_file(f.path(), "metadata '" + a + "attention.sliding_window' is out of range");
  if (const GgufValue* pat = f.find(a + "attention.sliding_window_pattern")) {
    if (pat->type == GgufType::ARRAY) {
      const std::vector<uint32_t> flags = u32_array(f, *pat, a + "attention.sliding_window_pattern", p.n_layer, 0, 1);
      p.layer_is_swa = std::vector<bool>(flags.begin(), flags.end());
    } else {
      p.swa_period = get_u32(f, a + "attention.sliding_window_pattern", 0);
      if (*p.swa_period > 4096) throw bad_file(f.path(), "metadata '" + a + "attention.sliding_window_pattern' is out of range");
    }
  }
  return fill_family(p, Convention::Gguf, f.path());
}

}  // namespace potron

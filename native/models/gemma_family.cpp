#include "gemma_family.h"

#include <cmath>

#include "errors.h"

namespace potron {

// What each family uses for a field its file leaves out. Where llama.cpp (GGUF) and
// transformers (config.json) differ, both are listed; each format follows its own reference.
//
//   field                Gemma 1          Gemma 2                   Gemma 3
//   rms_norm_eps         1e-6             1e-6                      1e-6
//   head_dim             GGUF E/H, HF 256 GGUF E/H, HF 256          GGUF E/H, HF 256
//   RoPE base (global)   10000            10000                     GGUF 10000, HF 1e6
//   RoPE base (sliding)  -                = global                  10000
//   linear RoPE scaling  all layers       all layers                global layers only
//   attention soft-cap   none             50                        none
//   final soft-cap       none             30                        none
//   sliding window       none             4096                      GGUF: none (all global), HF 4096
//   layer pattern        all global       period 2 (0, 2, .. slide) period 6 (5, 11, .. global)
//   query scaling        1/sqrt(head_dim) GGUF: 1/sqrt(head_dim), or 1/sqrt(E/H) for the 27B
//                                         (46 layers for Gemma 2, 62 for Gemma 3);
//                                         HF: 1/sqrt(256)
//
// EmbeddingGemma (gemma-embedding) takes Gemma 3's values; its GGUF must state the window, and
// llama.cpp scales its queries by 1/sqrt(head_dim) whatever query_pre_attn_scalar says.
//
// A Gemma 3 GGUF without rope.freq_base_swa (every converter before mid-2025) thus runs its
// sliding layers at 10000, and a Gemma 2 GGUF without soft-cap keys caps at 50 / 30, as
// llama.cpp does. llama.cpp ignores a stated attention soft-cap on Gemma 3 (transformers applies
// it); no converter writes one, and we apply a stated one.
namespace {

struct Family {
  bool swa_layers;             // the family has sliding-window layers at all
  uint32_t period;             // default layer pattern
  uint32_t window_gguf, window_hf;
  double attn_softcap, final_softcap;
  double rope_base_gguf, rope_base_hf;
  bool rope_swa_own_base;      // sliding layers have a base of their own (default 10000)
  bool scale_swa_layers;       // linear RoPE scaling applies to sliding layers too
  uint32_t layers_27b;         // layer count that marks the 27B model (0: none)
};

const Family kGemma1{false, 0, 0, 0, 0, 0, 10000, 10000, false, true, 0};
const Family kGemma2{true, 2, 4096, 4096, 50, 30, 10000, 10000, false, true, 46};
const Family kGemma3{true, 6, 0, 4096, 0, 0, 10000, 1e6, true, false, 62};

double positive(const std::optional<double>& v, double dflt, const char* what, const std::string& path) {
  const double x = v.value_or(dflt);
  if (!std::isfinite(x) || x <= 0 || x > 1e12) throw bad_file(path, std::string(what) + " must be a positive finite number");
  return x;
}

// A soft-cap: absent takes the family's, a stated 0 turns it off.
double softcap(const std::optional<double>& v, double dflt, const char* what, const std::string& path) {
  if (v && *v == 0) return 0;
  if (!v && dflt == 0) return 0;
  return positive(v, dflt, what, path);
}

}  // namespace

GemmaHParams fill_family(const GemmaFileParams& f, Convention from, const std::string& path) {
  // EmbeddingGemma is Gemma 3's body, read bidirectionally
  const Family& fam = f.arch == "gemma" ? kGemma1 : f.arch == "gemma2" ? kGemma2 : kGemma3;
  const bool embedding = f.arch == "gemma-embedding";
  const bool gguf = from == Convention::Gguf;
  GemmaHParams hp;
  hp.arch = f.arch;
  hp.n_vocab = f.n_vocab;
  hp.n_ctx_train = f.n_ctx_train;
  hp.n_embd = f.n_embd;
  hp.n_layer = f.n_layer;
  hp.n_head = f.n_head;
  hp.n_head_kv = f.n_head_kv;
  hp.n_ff = f.n_ff;
  if (hp.n_ff.size() != hp.n_layer) throw bad_file(path, "the feed-forward sizes do not match the layer count");
  hp.head_dim = f.head_dim.value_or(gguf ? f.n_embd / std::max(f.n_head, 1u) : 256);
  if (hp.head_dim == 0 || hp.head_dim % 2) throw bad_file(path, "the head size must be even and positive (RoPE rotates pairs)");

  hp.rms_eps = static_cast<float>(positive(f.rms_eps, 1e-6, "the RMSNorm epsilon", path));
  if (hp.rms_eps > 1) throw bad_file(path, "the RMSNorm epsilon must be at most 1");
  hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
  hp.has_post_norms = f.arch != "gemma";
  hp.has_qk_norm = f.arch == "gemma3" || embedding;
  hp.causal = !embedding;

  hp.attn_softcap = static_cast<float>(softcap(f.attn_softcap, fam.attn_softcap, "the attention soft-cap", path));
  hp.final_softcap = static_cast<float>(softcap(f.final_softcap, fam.final_softcap, "the final soft-cap", path));

  hp.rope_base = static_cast<float>(positive(f.rope_base, gguf ? fam.rope_base_gguf : fam.rope_base_hf, "the RoPE base", path));
  hp.rope_base_swa = static_cast<float>(positive(f.rope_base_swa, fam.rope_swa_own_base ? 10000 : hp.rope_base, "the sliding layers' RoPE base", path));
  const double factor = f.rope_scale_factor && *f.rope_scale_factor != 0 ? positive(f.rope_scale_factor, 1, "the RoPE scaling factor", path) : 1;
  hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  hp.rope_freq_scale_swa = fam.scale_swa_layers ? hp.rope_freq_scale : 1.f;

  // Sliding layers: a stated window (0 = none) or the family's; the pattern from a per-layer
  // list, a stated period, or the family's period.
  hp.layer_is_swa.assign(hp.n_layer, false);
  hp.sliding_window = fam.swa_layers ? f.sliding_window.value_or(gguf ? fam.window_gguf : fam.window_hf) : 0;
  if (hp.sliding_window > 0) {
    if (f.layer_is_swa) {
      if (f.layer_is_swa->size() != hp.n_layer) throw bad_file(path, "the per-layer sliding-window list does not match the layer count");
      hp.layer_is_swa = *f.layer_is_swa;
    } else {
      const uint32_t period = f.swa_period.value_or(fam.period);
      for (uint32_t i = 0; i < hp.n_layer; ++i) hp.layer_is_swa[i] = period == 0 || i % period < period - 1;
    }
  }

  // Queries are scaled by 1/sqrt(query_pre_attn_scalar).
  if (f.arch == "gemma") {
    hp.query_pre_attn_scalar = static_cast<float>(hp.head_dim);
  } else {
    const bool is_27b = hp.n_layer == fam.layers_27b;
    const double dflt = !gguf ? 256.0 : is_27b ? static_cast<double>(hp.n_embd / hp.n_head) : hp.head_dim;
    hp.query_pre_attn_scalar = static_cast<float>(positive(f.query_pre_attn_scalar, dflt, "query_pre_attn_scalar", path));
  }
  return hp;
}

}  // namespace potron

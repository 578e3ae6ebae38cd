#include "hf_config.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include "errors.h"
#include "gemma_family.h"
#include "hf_json.h"
#include "json_fields.h"

namespace potron {
namespace {

// transformers' defaults for the shape of a model whose config leaves it out (a gemma3
// text_config relies on Gemma3TextConfig's); the rest of the defaults are the family's
// (gemma_family.h).
struct ShapeDefaults {
  uint32_t vocab, hidden, ff, layers, heads, kv_heads, ctx;
};
const ShapeDefaults kGemma{256000, 3072, 24576, 28, 16, 16, 8192};
const ShapeDefaults kGemma2{256000, 2304, 9216, 26, 8, 4, 8192};
const ShapeDefaults kGemma3{262208, 2304, 9216, 26, 8, 4, 131072};

}  // namespace

HfConfig read_hf_config(const std::string& path, const std::string& dir) {
  HfConfig cfg;
  const json root = read_json_file(path, "config.json");
  if (!root.is_object()) throw bad_file(path, "config.json is not a JSON object");
  const Fields top(root, path, "");
  cfg.model_type = top.str("model_type", "");
  if (cfg.model_type.empty()) throw top.bad("model_type", "is missing");

  // gemma3 (Gemma3ForConditionalGeneration): the language model is text_config, a
  // Gemma3TextConfig whose absent fields take that class's defaults.
  const json* text = &root;
  std::string prefix;
  if (cfg.model_type == "gemma3") {
    cfg.multimodal = true;
    const json* tc = top.get("text_config");
    if (!tc) throw top.bad("text_config", "is missing (a gemma3 config keeps the language model there)");
    if (!tc->is_object()) throw top.bad("text_config", "must be an object");
    text = tc;
    prefix = "text_config.";
  }
  const Fields f(*text, path, prefix);
  const std::string text_type = cfg.multimodal ? f.str("model_type", "gemma3_text") : cfg.model_type;
  const ShapeDefaults* d = nullptr;
  if (text_type == "gemma") { d = &kGemma; cfg.hp.arch = "gemma"; }
  else if (text_type == "gemma2") { d = &kGemma2; cfg.hp.arch = "gemma2"; }
  else if (text_type == "gemma3_text") { d = &kGemma3; cfg.hp.arch = "gemma3"; }
  else {
    throw Error("ERR_UNSUPPORTED_ARCH", path + ": model_type '" + text_type.substr(0, 64) +
                                            "' is not supported (gemma, gemma2, gemma3_text and gemma3 are)");
  }
  const bool g1 = cfg.hp.arch == "gemma", g3 = cfg.hp.arch == "gemma3";
  // Published top-level configs always state the shape; only text_config relies on defaults.
  auto shape = [&](uint32_t dflt) { return cfg.multimodal ? std::optional<uint32_t>(dflt) : std::nullopt; };

  GemmaFileParams p;
  p.arch = cfg.hp.arch;
  p.n_vocab = f.u32("vocab_size", shape(d->vocab), 1, 1u << 24);
  p.n_embd = f.u32("hidden_size", shape(d->hidden), 1, 1u << 18);
  p.n_layer = f.u32("num_hidden_layers", shape(d->layers), 1, 4096);
  p.n_head = f.u32("num_attention_heads", shape(d->heads), 1, 4096);
  p.n_head_kv = f.u32("num_key_value_heads", shape(d->kv_heads), 1, 4096);
  if (p.n_head % p.n_head_kv != 0) {
    throw f.bad("num_key_value_heads", "(" + std::to_string(p.n_head_kv) + ") must divide num_attention_heads (" +
                                           std::to_string(p.n_head) + ")");
  }
  if (f.get("head_dim")) {
    p.head_dim = f.u32("head_dim", std::nullopt, 2, 4096);
    if (*p.head_dim % 2) throw f.bad("head_dim", "must be even (RoPE rotates pairs)");
  }
  p.n_ff.assign(p.n_layer, f.u32("intermediate_size", shape(d->ff), 1, 1u << 22));
  p.n_ctx_train = f.u32("max_position_embeddings", d->ctx, 1, 1u << 24);
  if (f.get("rms_norm_eps")) p.rms_eps = f.num("rms_norm_eps", 0, 0, 1);
  if (f.boolean("attention_bias", false)) {
    throw Error("ERR_UNSUPPORTED_MODEL", path + ": attention_bias is not supported (Gemma has no attention biases)");
  }
  // EmbeddingGemma: a Gemma 3 text model read bidirectionally, an encoder (GGUF: gemma-embedding)
  if (f.boolean("use_bidirectional_attention", false)) {
    if (!g3) throw Error("ERR_UNSUPPORTED_MODEL", path + ": bidirectional attention is only supported on Gemma 3 (EmbeddingGemma)");
    p.arch = "gemma-embedding";
  }

  // The MLP activation: every Gemma uses GELU with the tanh approximation. Gemma 1 configs
  // say "gelu" in hidden_act, which transformers runs as the tanh approximation too.
  std::string act = f.str("hidden_activation", "");
  const char* act_field = "hidden_activation";
  if (act.empty()) {
    act = f.str("hidden_act", "gelu_pytorch_tanh");
    act_field = "hidden_act";
    if (g1 && act == "gelu") act = "gelu_pytorch_tanh";
  }
  if (act != "gelu_pytorch_tanh" && act != "gelu_new") {
    throw Error("ERR_UNSUPPORTED_MODEL", path + ": config.json '" + f.name(act_field) + "' is '" + act.substr(0, 64) +
                                             "'; only GELU with the tanh approximation (gelu_pytorch_tanh) is supported");
  }

  // Soft-capping: absent takes the family's, null turns it off (Gemma 1 has none).
  if (!g1 && f.has("attn_logit_softcapping")) p.attn_softcap = f.num("attn_logit_softcapping", 0, 0, 1e6, 0.0);
  if (!g1 && f.has("final_logit_softcapping")) p.final_softcap = f.num("final_logit_softcapping", 0, 0, 1e6, 0.0);

  if (f.get("rope_theta")) p.rope_base = f.num("rope_theta", 0, 0, 1e12);
  if (g3 && f.get("rope_local_base_freq")) p.rope_base_swa = f.num("rope_local_base_freq", 0, 0, 1e12);
  if (const json* rs = f.get("rope_scaling")) {
    if (!rs->is_object()) throw f.bad("rope_scaling", "must be an object or null");
    const Fields r(*rs, path, f.name("rope_scaling."));
    std::string kind = r.str("rope_type", "");
    if (kind.empty()) kind = r.str("type", "default");
    if (kind == "linear") {
      if (!r.get("factor")) throw r.bad("factor", "is missing");
      p.rope_scale_factor = r.num("factor", 1, 0, 1e6);
    } else if (kind != "default") {
      throw Error("ERR_UNSUPPORTED_MODEL", path + ": RoPE scaling '" + kind.substr(0, 64) + "' is not supported (linear is)");
    }
  }
  if (!g1 && f.get("query_pre_attn_scalar")) p.query_pre_attn_scalar = f.num("query_pre_attn_scalar", 0, 0, 1e9);

  // Sliding-window layers: layer_types when the config lists them, else the period
  // (sliding_window_pattern; transformers 4.53+ writes it as _sliding_window_pattern).
  if (!g1) {
    if (f.get("sliding_window")) p.sliding_window = f.u32("sliding_window", std::nullopt, 1, 1u << 24);
    if (const json* lt = f.get("layer_types")) {
      if (!lt->is_array() || lt->size() != p.n_layer) {
        throw f.bad("layer_types", "must list one type per layer (" + std::to_string(p.n_layer) + ")");
      }
      std::vector<bool> swa(p.n_layer);
      for (uint32_t i = 0; i < p.n_layer; ++i) {
        const json& t = (*lt)[i];
        if (t == "sliding_attention") swa[i] = true;
        else if (t != "full_attention") throw f.bad("layer_types", "entry " + std::to_string(i) + " must be 'sliding_attention' or 'full_attention', not " + describe(t));
      }
      p.layer_is_swa = std::move(swa);
    } else {
      const char* key = f.has("sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
      if (f.get(key)) p.swa_period = f.u32(key, std::nullopt, 1, 4096);
    }
  }
  cfg.hp = fill_family(p, Convention::HfConfig, path);
  GemmaHParams& hp = cfg.hp;
  cfg.tie_word_embeddings = top.boolean("tie_word_embeddings", f.boolean("tie_word_embeddings", true));

  // What metadata() reports: GGUF's key names where GGUF has one, hf.* for the rest.
  const std::string a = hp.arch + ".";
  json md = json::object();
  md["general.architecture"] = hp.arch;
  md["general.type"] = "model";
  md["general.name"] = top.str("_name_or_path", "").empty() ? dir.substr(dir.find_last_of('/') + 1) : top.str("_name_or_path", "");
  md["hf.model_type"] = cfg.model_type;
  md["hf.dir"] = dir;
  if (const json* archs = top.get("architectures"); archs && archs->is_array()) {
    json names = json::array();
    for (const json& x : *archs) if (x.is_string()) names.push_back(x);
    md["hf.architectures"] = names;
  }
  md[a + "vocab_size"] = hp.n_vocab;
  md[a + "context_length"] = hp.n_ctx_train;
  md[a + "embedding_length"] = hp.n_embd;
  md[a + "block_count"] = hp.n_layer;
  md[a + "feed_forward_length"] = hp.n_ff[0];
  md[a + "attention.head_count"] = hp.n_head;
  md[a + "attention.head_count_kv"] = hp.n_head_kv;
  md[a + "attention.key_length"] = hp.head_dim;
  md[a + "attention.value_length"] = hp.head_dim;
  md[a + "attention.layer_norm_rms_epsilon"] = hp.rms_eps;
  md[a + "attention.query_pre_attn_scalar"] = hp.query_pre_attn_scalar;
  if (hp.attn_softcap > 0) md[a + "attn_logit_softcapping"] = hp.attn_softcap;
  if (hp.final_softcap > 0) md[a + "final_logit_softcapping"] = hp.final_softcap;
  md[a + "rope.freq_base"] = hp.rope_base;
  if (g3) md[a + "rope.freq_base_swa"] = hp.rope_base_swa;
  if (hp.rope_freq_scale != 1.f) {
    md[a + "rope.scaling.type"] = "linear";
    md[a + "rope.scaling.factor"] = 1.f / hp.rope_freq_scale;
  }
  if (hp.sliding_window > 0) {
    md[a + "attention.sliding_window"] = hp.sliding_window;
    md[a + "attention.sliding_window_pattern"] = hp.layer_is_swa;
  }
  md["hf.tie_word_embeddings"] = cfg.tie_word_embeddings;
  // Special token ids, as GGUF names them; eos may be a list in HF configs (the first is GGUF's).
  for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
    const json* v = top.get(key);
    if (!v) v = f.get(key);
    if (!v) continue;
    const std::string gguf_key = std::string("tokenizer.ggml.") + key;
    if (v->is_number_unsigned()) md[gguf_key] = *v;
    else if (v->is_array() && !v->empty() && (*v)[0].is_number_unsigned()) {
      md[gguf_key] = (*v)[0];
      json ids = json::array();
      for (const json& x : *v) if (x.is_number_unsigned()) ids.push_back(x);
      md[std::string("hf.") + key + "s"] = ids;
    }
  }
  cfg.metadata_json = md.dump(-1, ' ', false, json::error_handler_t::replace);  // a path need not be UTF-8
  return cfg;
}

}  // namespace potron

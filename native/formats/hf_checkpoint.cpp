#include "hf_checkpoint.h"

#include <optional>
#include <set>

#include "hf_config.h"
#include "hf_json.h"
#include "platform.h"
#include "safetensors_weights.h"
#include "st_pipeline.h"

namespace potron {
namespace {

// Per-layer tensors: HF leaf name -> runtime leaf name (Gemma 2/3 meaning), norm or not.
const std::map<std::string, MappedName> kLayerTable = {
    {"input_layernorm.weight", {"attn_norm.weight", true}},
    {"self_attn.q_proj.weight", {"attn_q.weight"}},
    {"self_attn.k_proj.weight", {"attn_k.weight"}},
    {"self_attn.v_proj.weight", {"attn_v.weight"}},
    {"self_attn.o_proj.weight", {"attn_output.weight"}},
    {"self_attn.q_norm.weight", {"attn_q_norm.weight", true}},
    {"self_attn.k_norm.weight", {"attn_k_norm.weight", true}},
    {"post_attention_layernorm.weight", {"post_attention_norm.weight", true}},
    {"pre_feedforward_layernorm.weight", {"ffn_norm.weight", true}},
    {"post_feedforward_layernorm.weight", {"post_ffw_norm.weight", true}},
    {"mlp.gate_proj.weight", {"ffn_gate.weight"}},
    {"mlp.up_proj.weight", {"ffn_up.weight"}},
    {"mlp.down_proj.weight", {"ffn_down.weight"}},
};

// HF tensor names to the runtime's (GGUF's, as convert_hf_to_gguf.py names them). Gemma 1
// calls the pre-MLP norm post_attention_layernorm; Gemma 2/3 use that name for the norm after
// attention and call the pre-MLP one pre_feedforward_layernorm.
std::optional<MappedName> map_name(std::string n, bool gemma1, uint32_t n_layer, const std::string& path) {
  // Gemma 3 multimodal checkpoints hold the language model under a prefix (older
  // transformers: language_model.model., newer: model.language_model.).
  for (const char* p : {"language_model.model.", "model.language_model."}) {
    if (starts_with(n, p)) n = "model." + n.substr(std::string(p).size());
  }
  if (starts_with(n, "language_model.lm_head.")) n = n.substr(std::string("language_model.").size());
  // a bare Gemma3TextModel (EmbeddingGemma) saves its tensors without the "model." prefix
  if (starts_with(n, "layers.") || n == "embed_tokens.weight" || n == "norm.weight") n = "model." + n;
  for (const char* p : {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."}) {
    if (starts_with(n, p)) return MappedName{};
  }
  if (n == "model.embed_tokens.weight") return MappedName{"token_embd.weight"};
  if (n == "model.norm.weight") return MappedName{"output_norm.weight", true};
  if (n == "lm_head.weight") return MappedName{"output.weight"};
  const auto l = hf_layer_of(n, "model.layers.", n_layer, path);
  if (!l) return std::nullopt;
  const auto& [layer, leaf] = *l;
  auto it = kLayerTable.find(leaf);
  if (it == kLayerTable.end()) return std::nullopt;
  MappedName m = it->second;
  if (gemma1 && leaf == "post_attention_layernorm.weight") m.name = "ffn_norm.weight";
  m.name = "blk." + std::to_string(layer) + "." + m.name;
  return m;
}


// An embedding model's sentence-transformers modules: its pooling, and its Dense layers as the
// GGUF names them (dense_2, dense_3: the modules' numbers in EmbeddingGemma's pipeline).
void add_dense_modules(HfCheckpoint& ck, const std::string& dir) {
  ck.st = read_st_pipeline(dir, true);
  if (ck.st.dense.size() > 2) throw Error("ERR_UNSUPPORTED_MODEL", dir + ": more than two Dense modules are not supported");
  for (size_t i = 0; i < ck.st.dense.size(); ++i) {
    const std::string name = "dense_" + std::to_string(i + 2) + ".weight";
    add_safetensors_weights(ck.source, ck.st.dense[i].dir, "a Dense module", [&](const std::string& n, const std::string&) -> std::optional<MappedName> {
      if (n == "linear.weight") return MappedName{name};
      return std::nullopt;
    });
  }
}

}  // namespace

std::string hf_tensor_name(const std::string& name, bool gemma1) {
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  const size_t dot = name.find('.', 4);
  if (name.rfind("blk.", 0) != 0 || dot == std::string::npos) return name;
  const std::string leaf = name.substr(dot + 1), layer = name.substr(4, dot - 4);
  if (gemma1 && leaf == "ffn_norm.weight") return "model.layers." + layer + ".post_attention_layernorm.weight";
  for (const auto& [hf, m] : kLayerTable) {
    if (m.name == leaf) return "model.layers." + layer + "." + hf;
  }
  return name;
}

HfCheckpoint load_hf_checkpoint(const std::string& dir_in) {
  HfCheckpoint ck;
  ck.dir = platform::absolute_path(dir_in);
  const std::string& dir = ck.dir;
  try {
    const HfConfig cfg = read_hf_config(dir + "/config.json", dir);
    ck.metadata_json = cfg.metadata_json;
    WeightSource& src = ck.source;
    src.path = dir;
    src.format = "hf";
    ck.hp = cfg.hp;

    const bool gemma1 = cfg.hp.arch == "gemma";
    add_safetensors_weights(src, dir, "a Gemma text model", [&](const std::string& name, const std::string& shard) -> std::optional<MappedName> {
      std::optional<MappedName> m = map_name(name, gemma1, cfg.hp.n_layer, shard);
      if (m && m->name == "output.weight" && cfg.tie_word_embeddings) return MappedName{};  // tied: the embeddings serve
      return m;
    });
    if (!cfg.tie_word_embeddings && !src.find("output.weight")) {
      throw bad_file(dir, "config.json says tie_word_embeddings is false but there is no lm_head.weight");
    }
    if (!cfg.hp.causal) add_dense_modules(ck, dir);
    const StoredTensor* embd = src.find("token_embd.weight");
    if (!embd) throw bad_file(dir, "missing tensor 'model.embed_tokens.weight'");
    if (embd->n_dims != 2 || embd->ne[1] != static_cast<int64_t>(cfg.hp.n_vocab)) {
      throw bad_file(dir + "/config.json", "vocab_size " + std::to_string(cfg.hp.n_vocab) +
                                               " does not match model.embed_tokens.weight, which has " +
                                               std::to_string(embd->ne[1]) + " rows");
    }
  } catch (const json::exception& e) {
    throw bad_file(dir, std::string("malformed JSON content: ") + e.what());
  }
  return ck;
}

}  // namespace potron

#include "hf_checkpoint.h"

#include <climits>
#include <cstdlib>
#include <optional>
#include <set>
#include <sys/stat.h>

#include "hf_config.h"
#include "hf_json.h"
#include "safetensors.h"

namespace potron {
namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

struct MappedName {
  std::string name;   // runtime name; empty: not part of the text model (skipped)
  bool norm = false;  // an RMSNorm weight, stored by HF without the +1
};

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
  for (const char* p : {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."}) {
    if (starts_with(n, p)) return MappedName{};
  }
  if (n == "model.embed_tokens.weight") return MappedName{"token_embd.weight"};
  if (n == "model.norm.weight") return MappedName{"output_norm.weight", true};
  if (n == "lm_head.weight") return MappedName{"output.weight"};
  if (!starts_with(n, "model.layers.")) return std::nullopt;

  const std::string rest = n.substr(std::string("model.layers.").size());
  size_t i = 0;
  while (i < rest.size() && i < 6 && rest[i] >= '0' && rest[i] <= '9') ++i;
  if (i == 0 || i >= rest.size() || rest[i] != '.') return std::nullopt;
  const unsigned long layer = std::strtoul(rest.substr(0, i).c_str(), nullptr, 10);
  if (layer >= n_layer) {
    throw bad_file(path, "tensor '" + n + "' belongs to layer " + std::to_string(layer) + " but config.json has " +
                             std::to_string(n_layer) + " layers");
  }
  const std::string leaf = rest.substr(i + 1);
  auto it = kLayerTable.find(leaf);
  if (it == kLayerTable.end()) return std::nullopt;
  MappedName m = it->second;
  if (gemma1 && leaf == "post_attention_layernorm.weight") m.name = "ffn_norm.weight";
  m.name = "blk." + std::to_string(layer) + "." + m.name;
  return m;
}

ggml_type ggml_type_of(const std::string& dtype) {
  if (dtype == "F32") return GGML_TYPE_F32;
  if (dtype == "F16") return GGML_TYPE_F16;
  if (dtype == "BF16") return GGML_TYPE_BF16;
  return GGML_TYPE_COUNT;
}

// The shard files the index lists, each once, in order of first mention. Names must be plain
// file names in the directory: a hostile index must not reach other files.
std::vector<std::string> shards_from_index(const std::string& index_path, std::map<std::string, std::string>& weight_map) {
  MappedFile f(index_path);
  if (f.size() > (64u << 20)) throw bad_file(index_path, "is implausibly large (" + std::to_string(f.size()) + " bytes)");
  const char* p = reinterpret_cast<const char*>(f.data());
  const json idx = parse_json(p, p + f.size(), index_path, "the index");
  if (!idx.is_object()) throw bad_file(index_path, "the index is not a JSON object");
  auto wm = idx.find("weight_map");
  if (wm == idx.end() || !wm->is_object() || wm->empty()) throw bad_file(index_path, "'weight_map' is missing or empty");
  std::vector<std::string> shards;
  std::set<std::string> seen;
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) throw bad_file(index_path, "'weight_map' entry '" + tensor + "' must name a file");
    const std::string name = file.get<std::string>();
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
      throw bad_file(index_path, "'weight_map' entry '" + tensor + "' names '" + name + "', which is not a file in the model directory");
    }
    weight_map[tensor] = name;
    if (seen.insert(name).second) shards.push_back(name);
  }
  return shards;
}

std::string absolute(const std::string& dir) {
  char buf[PATH_MAX];
  return ::realpath(dir.c_str(), buf) ? std::string(buf) : dir;
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
  ck.dir = absolute(dir_in);
  const std::string& dir = ck.dir;
  try {
    const HfConfig cfg = read_hf_config(dir + "/config.json", dir);
    ck.metadata_json = cfg.metadata_json;
    WeightSource& src = ck.source;
    src.path = dir;
    src.format = "hf";
    ck.hp = cfg.hp;

    std::vector<std::string> shard_names;
    std::map<std::string, std::string> weight_map;
    const std::string index = dir + "/model.safetensors.index.json";
    if (file_exists(index)) {
      shard_names = shards_from_index(index, weight_map);
    } else if (file_exists(dir + "/model.safetensors")) {
      shard_names.push_back("model.safetensors");
    } else {
      throw bad_file(dir, "no weights: neither model.safetensors nor model.safetensors.index.json is there "
                          "(only safetensors checkpoints load; download them, or convert the model to GGUF)");
    }

    const bool gemma1 = cfg.hp.arch == "gemma";
    std::vector<SafetensorsFile> shards;
    shards.reserve(shard_names.size());
    for (const std::string& s : shard_names) {
      if (!weight_map.empty() && !file_exists(dir + "/" + s)) {
        throw bad_file(index, "lists " + s + ", which is not in the directory (an incomplete download?)");
      }
      shards.emplace_back(dir + "/" + s);
    }
    for (size_t si = 0; si < shards.size(); ++si) {
      const SafetensorsFile& sf = shards[si];
      src.files.push_back(sf.file());
      for (const SafetensorsTensor& t : sf.tensors()) {
        if (!weight_map.empty()) {
          auto it = weight_map.find(t.name);
          if (it == weight_map.end() || it->second != shard_names[si]) continue;  // the index decides
        }
        std::optional<MappedName> m = map_name(t.name, gemma1, cfg.hp.n_layer, sf.path());
        if (!m) throw bad_file(sf.path(), "unexpected tensor '" + t.name + "' (not part of a Gemma text model)");
        if (m->name.empty()) continue;                                   // vision tower, projector
        if (m->name == "output.weight" && cfg.tie_word_embeddings) continue;  // tied: the embeddings serve
        if (t.shape.empty() || t.shape.size() > 4) {
          throw bad_file(sf.path(), "tensor '" + t.name + "' has " + std::to_string(t.shape.size()) + " dimensions (1..4 expected)");
        }
        StoredTensor st{};
        st.name = m->name;
        st.file_name = t.name;
        st.file = sf.file().get();
        st.type = ggml_type_of(t.dtype);
        st.type_name = t.dtype;
        st.n_dims = static_cast<int>(t.shape.size());
        for (int d = 0; d < 4; ++d) st.ne[d] = 1;
        for (int d = 0; d < st.n_dims; ++d) st.ne[d] = t.shape[st.n_dims - 1 - d];  // row-major: last is contiguous
        st.data = t.data;
        st.nbytes = t.nbytes;
        st.add_one = m->norm;
        src.add(std::move(st));
      }
    }
    for (const auto& [tensor, file] : weight_map) {
      bool found = false;
      for (size_t si = 0; si < shards.size() && !found; ++si) found = shard_names[si] == file && shards[si].tensor(tensor);
      if (!found) throw bad_file(index, "'weight_map' puts '" + tensor + "' in " + file + ", which does not hold it");
    }
    if (!cfg.tie_word_embeddings && !src.find("output.weight")) {
      throw bad_file(dir, "config.json says tie_word_embeddings is false but there is no lm_head.weight");
    }
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

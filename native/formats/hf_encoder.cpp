#include "hf_encoder.h"

#include <optional>

#include "json_fields.h"
#include "platform.h"
#include "safetensors_weights.h"
#include "st_pipeline.h"

namespace potron {
namespace {

// LayerNorm parameters: current names, and the gamma/beta of checkpoints saved by old transformers
std::string norm_leaf(const std::string& leaf) {
  if (leaf == "gamma") return "weight";
  if (leaf == "beta") return "bias";
  return leaf;
}

// BERT's HF names (BertModel; a "bert." prefix as BertForMaskedLM and others save it) to
// convert_hf_to_gguf.py's GGUF names.
// A sequence classifier (a cross-encoder) keeps its pooler and classifier as the reranking head.
// XLM-RoBERTa's (XLMRobertaModel; "roberta." as XLMRobertaForSequenceClassification saves it)
// are BERT's; its classification head is classifier.dense then classifier.out_proj.
std::optional<MappedName> bert_name(std::string n, uint32_t n_layer, const std::string& path, bool classifier) {
  if (starts_with(n, "bert.")) n = n.substr(5);
  else if (starts_with(n, "roberta.")) n = n.substr(8);
  if (classifier) {
    if (starts_with(n, "pooler.dense.")) return MappedName{"cls." + n.substr(13)};
    if (starts_with(n, "classifier.dense.")) return MappedName{"cls." + n.substr(17)};
    if (starts_with(n, "classifier.out_proj.")) return MappedName{"cls.output." + n.substr(20)};
    if (starts_with(n, "classifier.")) return MappedName{"cls.output." + n.substr(11)};
  }
  if (n == "embeddings.position_ids" || starts_with(n, "pooler.") || starts_with(n, "cls.")) return MappedName{};
  if (n == "embeddings.word_embeddings.weight") return MappedName{"token_embd.weight"};
  if (n == "embeddings.position_embeddings.weight") return MappedName{"position_embd.weight"};
  if (n == "embeddings.token_type_embeddings.weight") return MappedName{"token_types.weight"};
  if (starts_with(n, "embeddings.LayerNorm.")) return MappedName{"token_embd_norm." + norm_leaf(n.substr(21))};
  const auto l = hf_layer_of(n, "encoder.layer.", n_layer, path);
  if (!l) return std::nullopt;
  const std::string p = "blk." + std::to_string(l->first) + ".";
  const std::string& leaf = l->second;
  const auto dot = leaf.find_last_of('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string module = leaf.substr(0, dot), param = norm_leaf(leaf.substr(dot + 1));
  static const std::pair<const char*, const char*> kTable[] = {
      {"attention.self.query", "attn_q"},         {"attention.self.key", "attn_k"},
      {"attention.self.value", "attn_v"},         {"attention.output.dense", "attn_output"},
      {"attention.output.LayerNorm", "attn_output_norm"}, {"intermediate.dense", "ffn_up"},
      {"output.dense", "ffn_down"},               {"output.LayerNorm", "layer_output_norm"},
  };
  for (const auto& [hf, gguf] : kTable) {
    if (module == hf) return MappedName{p + gguf + "." + param};
  }
  return std::nullopt;
}

// nomic-bert's HF names (NomicBertModel, trust_remote_code) to the GGUF names.
std::optional<MappedName> nomic_name(const std::string& n, uint32_t n_layer, const std::string& path) {
  if (n == "embeddings.word_embeddings.weight") return MappedName{"token_embd.weight"};
  if (n == "embeddings.token_type_embeddings.weight") return MappedName{"token_types.weight"};
  if (starts_with(n, "emb_ln.")) return MappedName{"token_embd_norm." + n.substr(7)};
  const auto l = hf_layer_of(n, "encoder.layers.", n_layer, path);
  if (!l) return std::nullopt;
  const std::string p = "blk." + std::to_string(l->first) + ".";
  static const std::pair<const char*, const char*> kTable[] = {
      {"attn.Wqkv.weight", "attn_qkv.weight"}, {"attn.out_proj.weight", "attn_output.weight"},
      {"mlp.fc11.weight", "ffn_up.weight"},    {"mlp.fc12.weight", "ffn_gate.weight"},
      {"mlp.fc2.weight", "ffn_down.weight"},   {"norm1.weight", "attn_output_norm.weight"},
      {"norm1.bias", "attn_output_norm.bias"}, {"norm2.weight", "layer_output_norm.weight"},
      {"norm2.bias", "layer_output_norm.bias"},
  };
  for (const auto& [hf, gguf] : kTable) {
    if (l->second == hf) return MappedName{p + gguf};
  }
  return std::nullopt;
}

}  // namespace

HfEncoder load_hf_encoder(const std::string& dir_in) {
  HfEncoder out;
  out.dir = platform::absolute_path(dir_in);
  const std::string& dir = out.dir;
  const std::string path = dir + "/config.json";
  try {
    const json root = read_json_file(path, "config.json");
    if (!root.is_object()) throw bad_file(path, "config.json is not a JSON object");
    const Fields f(root, path, "");
    const std::string model_type = f.str("model_type", "");
    EncoderHParams& hp = out.hp;
    // XLM-RoBERTa (bge-reranker-base / -v2-m3, bge-m3, multilingual-e5) is BERT with positions
    // that start at pad_token_id + 1, as llama.cpp's converter reads it (arch bert)
    const bool roberta = model_type == "xlm-roberta";
    uint32_t position_offset = 0;
    if (model_type == "bert" || roberta) {
      hp.arch = "bert";
      hp.n_embd = f.u32("hidden_size", 768, 1, 1u << 16);
      hp.n_layer = f.u32("num_hidden_layers", 12, 1, 1024);
      hp.n_head = f.u32("num_attention_heads", 12, 1, 4096);
      hp.n_ff = f.u32("intermediate_size", 3072, 1, 1u << 20);
      hp.n_ctx_train = f.u32("max_position_embeddings", roberta ? 514 : 512, 1, 1u << 20);
      hp.n_token_types = f.u32("type_vocab_size", roberta ? 1 : 2, 0, 1024);
      hp.norm_eps = static_cast<float>(f.num("layer_norm_eps", roberta ? 1e-5 : 1e-12, 0, 1));
      hp.n_vocab = f.u32("vocab_size", roberta ? 250002 : 30522, 1, 1u << 24);
      if (roberta) {
        position_offset = f.u32("pad_token_id", 1, 0, 1u << 20) + 1;
        if (position_offset >= hp.n_ctx_train) throw f.bad("pad_token_id", "leaves no positions below max_position_embeddings");
        hp.n_ctx_train -= position_offset;
      }
      const std::string act = f.str("hidden_act", "gelu");
      if (act != "gelu" && act != "gelu_new" && act != "gelu_pytorch_tanh") {
        throw Error("ERR_UNSUPPORTED_MODEL", path + ": hidden_act '" + act.substr(0, 64) + "' is not supported (GELU is)");
      }
      const std::string pos = f.str("position_embedding_type", "absolute");
      if (pos != "absolute") throw Error("ERR_UNSUPPORTED_MODEL", path + ": position_embedding_type '" + pos.substr(0, 64) + "' is not supported");
    } else if (model_type == "nomic_bert") {
      hp.arch = "nomic-bert";
      hp.rope = true;
      hp.swiglu = true;
      hp.n_embd = f.u32("n_embd", std::nullopt, 1, 1u << 16);
      hp.n_layer = f.u32("n_layer", std::nullopt, 1, 1024);
      hp.n_head = f.u32("n_head", std::nullopt, 1, 4096);
      hp.n_ff = f.u32("n_inner", 4 * hp.n_embd, 1, 1u << 20);
      hp.n_token_types = f.u32("type_vocab_size", 2, 0, 1024);
      hp.norm_eps = static_cast<float>(f.num("layer_norm_epsilon", 1e-12, 0, 1));
      hp.n_vocab = f.u32("vocab_size", std::nullopt, 1, 1u << 24);
      hp.rope_base = static_cast<float>(f.num("rotary_emb_base", 10000, 0, 1e9));
      // as llama.cpp's converter: v1 and v1.5 state 8192 positions but were trained on 2048
      const uint32_t npos = f.u32("n_positions", std::nullopt, 1, 1u << 20);
      const uint32_t trained = f.u32("max_trained_positions", 2048, 1, 1u << 20);
      hp.n_ctx_train = npos == 8192 && trained == 2048 ? 2048 : std::min(npos, trained);
      if (f.str("activation_function", "swiglu") != "swiglu") throw Error("ERR_UNSUPPORTED_MODEL", path + ": only nomic-bert's SwiGLU variant is supported");
      if (f.boolean("prenorm", false) || f.boolean("qkv_proj_bias", false) || f.boolean("rotary_emb_interleaved", false) ||
          f.num("rotary_emb_fraction", 1.0, 0, 1) != 1.0 || f.u32("moe_every_n_layers", 0, 0, 1024) != 0) {
        throw Error("ERR_UNSUPPORTED_MODEL", path + ": a nomic-bert variant the runtime does not run (pre-norm, biases, partial or interleaved rotary, or experts)");
      }
    } else {
      throw Error("ERR_UNSUPPORTED_ARCH", path + ": model_type '" + model_type.substr(0, 64) + "' is not an embedding model we run (bert, xlm-roberta, "
                                            "nomic_bert, and gemma3_text with use_bidirectional_attention, EmbeddingGemma, are)");
    }
    if (hp.n_embd % hp.n_head != 0) throw f.bad(model_type == "nomic_bert" ? "n_head" : "num_attention_heads", "must divide the hidden size");
    // a cross-encoder (Bert- / XLMRobertaForSequenceClassification): the first token through the
    // pooler (RoBERTa: the head's dense layer) to the classifier
    bool classifier = false;
    if (const json* archs = f.get("architectures"); archs && archs->is_array()) {
      for (const json& a : *archs) {
        classifier = classifier || (a.is_string() && (a.get<std::string>() == "BertForSequenceClassification" ||
                                                      a.get<std::string>() == "XLMRobertaForSequenceClassification"));
      }
    }
    if (classifier) {
      hp.pooling = Pooling::Rank;
      const json* labels = f.get("id2label");
      if (labels && (!labels->is_object() || labels->empty() || labels->size() > 1024)) throw f.bad("id2label", "must map 1 to 1024 labels");
      hp.n_cls_out = labels ? static_cast<uint32_t>(labels->size()) : f.u32("num_labels", 2, 1, 1024);
    } else {
      hp.pooling = read_st_pipeline(dir, false).pooling;
    }

    WeightSource& src = out.source;
    src.path = dir;
    src.format = "hf";
    const bool bert = hp.arch == "bert";
    add_safetensors_weights(src, dir, "a " + hp.arch + " encoder", [&](const std::string& name, const std::string& shard) {
      return bert ? bert_name(name, hp.n_layer, shard, classifier) : nomic_name(name, hp.n_layer, shard);
    });
    if (position_offset > 0 && !src.drop_leading_rows("position_embd.weight", position_offset)) {
      throw bad_file(dir, "missing tensor 'embeddings.position_embeddings.weight'");
    }
    const StoredTensor* embd = src.find("token_embd.weight");
    if (!embd) throw bad_file(dir, "missing tensor 'embeddings.word_embeddings.weight'");
    if (embd->n_dims != 2 || embd->ne[1] != static_cast<int64_t>(hp.n_vocab)) {
      throw bad_file(path, "vocab_size " + std::to_string(hp.n_vocab) + " does not match embeddings.word_embeddings.weight, which has " +
                               std::to_string(embd->ne[1]) + " rows");
    }

    json md;
    const std::string a = hp.arch + ".";
    md["general.architecture"] = hp.arch;
    md["general.type"] = "model";
    md["hf.model_type"] = model_type;
    md["hf.dir"] = dir;
    md[a + "context_length"] = hp.n_ctx_train;
    md[a + "embedding_length"] = hp.n_embd;
    md[a + "block_count"] = hp.n_layer;
    md[a + "feed_forward_length"] = hp.n_ff;
    md[a + "attention.head_count"] = hp.n_head;
    md[a + "attention.layer_norm_epsilon"] = hp.norm_eps;
    md[a + "attention.causal"] = false;
    md[a + "pooling_type"] = static_cast<uint32_t>(hp.pooling);
    if (hp.rope) md[a + "rope.freq_base"] = hp.rope_base;
    md["tokenizer.ggml.token_type_count"] = hp.n_token_types;
    out.metadata_json = md.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const json::exception& e) {
    throw bad_file(dir, std::string("malformed JSON content: ") + e.what());
  }
  return out;
}

}  // namespace potron

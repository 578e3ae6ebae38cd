#include "encoder_model.h"

#include "backend.h"
#include "errors.h"
#include "gguf_keys.h"
#include "hf_encoder.h"
#include "json_fields.h"
#include "platform.h"
#include "safetensors_weights.h"

namespace potron {

namespace {

// Whether a file or directory holds EmbeddingGemma: GGUF architecture gemma-embedding, or a
// Gemma 3 text config with bidirectional attention. A Gemma decoder goes the BERT family's way
// and is refused there as not an embedding model.
bool is_embedding_gemma(const std::string& path, const GgufFile* gguf) {
  if (gguf) return gguf_arch(*gguf) == "gemma-embedding";
  const std::string cfg = path + "/config.json";
  if (!platform::file_exists(cfg)) return false;
  const json root = read_json_file(cfg, "config.json");
  if (!root.is_object()) return false;
  const auto type = root.find("model_type");
  const auto bidi = root.find("use_bidirectional_attention");
  return type != root.end() && *type == "gemma3_text" && bidi != root.end() && *bidi == true;
}

}  // namespace

// EmbeddingGemma: the Gemma model (which refuses a GGUF without its Dense layers) with the
// pooling its files state.
void EncoderModel::adopt_gemma(const std::string& path, std::unique_ptr<Model> gemma) {
  gemma_ = std::move(gemma);
  const GemmaHParams& g = gemma_->hp();
  hp_.arch = g.arch;
  hp_.n_vocab = g.n_vocab;
  hp_.n_ctx_train = g.n_ctx_train;
  hp_.n_embd = g.n_embd;
  hp_.n_layer = g.n_layer;
  hp_.n_head = g.n_head;
  hp_.n_ff = g.n_ff.empty() ? 0 : g.n_ff[0];
  hp_.pooling = gemma_->pooling();
  hp_.pooling_stated = gemma_->pooling_stated();
  format_ = gemma_->format();
  hf_dir_ = gemma_->hf_dir();
  metadata_json_ = gemma_->hf_metadata_json();
  if (hp_.pooling == Pooling::Rank) throw Error("ERR_UNSUPPORTED_MODEL", path + ": rank pooling (a reranker) is not supported for Gemma");
}

EncoderModel::EncoderModel(const std::string& path, const ModelOptions& options) {
  WeightSource src;
  const bool dir = platform::is_directory(path);
  if (!dir) gguf_ = std::make_unique<GgufFile>(path);
  if (is_embedding_gemma(path, gguf_.get())) {
    // the open GGUF goes to the Model, which keeps it
    adopt_gemma(path, gguf_ ? std::make_unique<Model>(std::move(gguf_), options) : std::make_unique<Model>(path, options));
    return;
  }
  if (dir) {
    HfEncoder hf = load_hf_encoder(path);
    hp_ = hf.hp;
    src = std::move(hf.source);
    hf_dir_ = hf.dir;
    metadata_json_ = hf.metadata_json;
  } else {
    hp_ = EncoderHParams::from_gguf(*gguf_);
    src = gguf_weight_source(*gguf_);
    const GgufTensorInfo* te = gguf_->tensor("token_embd.weight");
    if (!te) throw bad_file(path, "missing tensor 'token_embd.weight'");
    hp_.n_vocab = static_cast<uint32_t>(te->ne[1]);
    // a cross-encoder as llama.cpp's converter writes it states no pooling (it reads that from
    // sentence-transformers' files, which cross-encoders lack) but carries its classifier: it is
    // a reranker, as llama-server --reranking and node-llama-cpp's ranking context treat it
    if (const GgufTensorInfo* head = gguf_->tensor("cls.output.weight"); head && !hp_.pooling_stated) {
      hp_.pooling = Pooling::Rank;
      if (!gguf_->find(hp_.arch + ".classifier.output_labels")) hp_.n_cls_out = static_cast<uint32_t>(head->ne[1]);
    }
  }
  // an older converter may not state the count: the table's own shape does
  if (const StoredTensor* tt = src.find("token_types.weight"); tt && hp_.n_token_types == 0) {
    hp_.n_token_types = static_cast<uint32_t>(tt->ne[1]);
  }
  format_ = src.format;
  // HF: the message names the tensor as the files do
  std::map<std::string, std::string> file_names;
  for (const StoredTensor& t : src.tensors) file_names[t.name] = t.file_name;
  weights_ = std::make_unique<Weights>(std::move(src), weight_float_type(options.dtype, format_ == "gguf", options.auto_float), options.repack,
                                       [file_names](const std::string& n) {
                                         auto it = file_names.find(n);
                                         return it == file_names.end() ? n : it->second;
                                       });
  auto w = [&](const std::string& name, std::vector<int64_t> shape, bool required = true) {
    return weights_->get(name, std::move(shape), required);
  };

  const int64_t E = hp_.n_embd, F = hp_.n_ff, V = hp_.n_vocab;
  tok_embd = w("token_embd.weight", {E, V});
  if (hp_.n_token_types > 0) type_embd = w("token_types.weight", {E, hp_.n_token_types}, false);
  if (!hp_.rope) pos_embd = w("position_embd.weight", {E, hp_.n_ctx_train});
  embd_norm = w("token_embd_norm.weight", {E});
  embd_norm_b = w("token_embd_norm.bias", {E});

  std::vector<ggml_tensor**> matrices;
  layers.resize(hp_.n_layer);
  for (uint32_t il = 0; il < hp_.n_layer; ++il) {
    EncoderLayer& l = layers[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    l.wqkv = w(p + "attn_qkv.weight", {E, 3 * E}, false);
    if (l.wqkv) {
      l.bqkv = w(p + "attn_qkv.bias", {3 * E}, false);
      matrices.push_back(&l.wqkv);
    } else {
      l.wq = w(p + "attn_q.weight", {E, E});
      l.wk = w(p + "attn_k.weight", {E, E});
      l.wv = w(p + "attn_v.weight", {E, E});
      l.bq = w(p + "attn_q.bias", {E}, false);
      l.bk = w(p + "attn_k.bias", {E}, false);
      l.bv = w(p + "attn_v.bias", {E}, false);
      for (ggml_tensor** m : {&l.wq, &l.wk, &l.wv}) matrices.push_back(m);
    }
    l.wo = w(p + "attn_output.weight", {E, E});
    l.bo = w(p + "attn_output.bias", {E}, false);
    l.attn_out_norm = w(p + "attn_output_norm.weight", {E});
    l.attn_out_norm_b = w(p + "attn_output_norm.bias", {E});
    l.ffn_up = w(p + "ffn_up.weight", {E, F});
    l.ffn_up_b = w(p + "ffn_up.bias", {F}, false);
    l.ffn_gate = hp_.swiglu ? w(p + "ffn_gate.weight", {E, F}) : nullptr;
    l.ffn_down = w(p + "ffn_down.weight", {F, E});
    l.ffn_down_b = w(p + "ffn_down.bias", {E}, false);
    l.layer_out_norm = w(p + "layer_output_norm.weight", {E});
    l.layer_out_norm_b = w(p + "layer_output_norm.bias", {E});
    for (ggml_tensor** m : {&l.wo, &l.ffn_up, &l.ffn_down}) matrices.push_back(m);
    if (l.ffn_gate) matrices.push_back(&l.ffn_gate);
  }
  if (hp_.pooling == Pooling::Rank) {
    cls = w("cls.weight", {E, E}, false);
    if (cls) {
      cls_b = w("cls.bias", {E}, false);
      matrices.push_back(&cls);
    }
    cls_out = w("cls.output.weight", {E, hp_.n_cls_out});
    cls_out_b = w("cls.output.bias", {hp_.n_cls_out}, false);
    matrices.push_back(&cls_out);
  }
  weights_->place(matrices, tok_embd);
}

}  // namespace potron

#include "model.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "backend.h"
#include "devices.h"
#include "errors.h"
#include "ggml-alloc.h"
#include "hf_checkpoint.h"
#include "platform.h"
#include "safetensors_weights.h"

namespace potron {

ggml_type weight_float_type(WeightDtype dtype, bool auto_keeps_types, ggml_type auto_float) {
  switch (dtype) {
    case WeightDtype::F32: return GGML_TYPE_F32;
    case WeightDtype::F16: return GGML_TYPE_F16;
    case WeightDtype::BF16: return GGML_TYPE_BF16;
    case WeightDtype::Auto: break;
  }
  return auto_keeps_types ? GGML_TYPE_COUNT : auto_float;
}

Model::Model(const std::string& path, const ModelOptions& options) {
  if (platform::is_directory(path)) {
    if (!platform::file_exists(path + "/config.json")) {
      throw Error("ERR_MODEL_OPEN", path + ": a directory without config.json; give a .gguf file or an HF model "
                                           "directory (config.json and safetensors weights)");
    }
    HfCheckpoint ck = load_hf_checkpoint(path);
    hp_ = ck.hp;
    hf_dir_ = ck.dir;
    hf_metadata_json_ = ck.metadata_json;
    pooling_ = ck.st.pooling;
    pooling_stated_ = true;
    place(std::move(ck.source), options);
    return;
  }
  auto ends_with = [&](const std::string& x) { return path.size() >= x.size() && path.compare(path.size() - x.size(), x.size(), x) == 0; };
  if (ends_with("config.json") || ends_with(".safetensors") || ends_with(".safetensors.index.json")) {
    throw Error("ERR_MODEL_OPEN", path + ": part of an HF model directory; give the directory that holds it");
  }
  load_gguf(std::make_unique<GgufFile>(path), options);
}

Model::Model(std::unique_ptr<GgufFile> gguf, const ModelOptions& options) { load_gguf(std::move(gguf), options); }

void Model::load_gguf(std::unique_ptr<GgufFile> gguf, const ModelOptions& options) {
  gguf_ = std::move(gguf);
  WeightSource src = gguf_weight_source(*gguf_);
  hp_ = GemmaHParams::from_gguf(*gguf_);
  const StoredTensor* te = src.find("token_embd.weight");
  if (!te) throw bad_file(gguf_->path(), "missing tensor 'token_embd.weight'");
  hp_.n_vocab = static_cast<uint32_t>(te->ne[1]);
  if (!hp_.causal) pooling_ = gguf_pooling(*gguf_, hp_.arch, &pooling_stated_);
  place(std::move(src), options);
}

// The weights under the dtype policy, then the tensors the graph reads.
void Model::place(WeightSource src, const ModelOptions& options) {
  format_ = src.format;
  ggml_backend_dev_t dev = options.device.empty() ? cpu_device() : device_by_name(options.device);
  device_ = describe_device(dev);
  if (device_.kind != "cpu") {
    if (!hp_.causal) {
      throw Error("ERR_NO_DEVICE", "embedding models run on the CPU so far, not on " + device_.name + "; load it with device 'cpu'");
    }
    // llama.cpp's split: the last n layers, the output layer counting as layer n_layer
    const int64_t n = static_cast<int64_t>(hp_.n_layer) + 1;
    const int64_t on_gpu = options.gpu_layers < 0 ? n : std::min<int64_t>(options.gpu_layers, n);
    gpu_ = dev;
    layer_dev_.assign(hp_.n_layer, nullptr);
    for (uint32_t il = 0; il < hp_.n_layer; ++il) {
      if (static_cast<int64_t>(il) >= n - on_gpu) layer_dev_[il] = dev;
    }
    output_dev_ = on_gpu >= 1 ? dev : nullptr;
  }
  const ggml_type float_type = weight_float_type(options.dtype, src.auto_keeps_types, options.auto_float);
  const bool gemma1 = hp_.arch == "gemma";
  const bool hf = format_ == "hf";
  weights_ = std::make_unique<Weights>(std::move(src), float_type, options.repack,
                                       [hf, gemma1](const std::string& n) { return hf ? hf_tensor_name(n, gemma1) : n; });
  build();
}

void Model::build() {
  auto weight = [&](const std::string& name, std::vector<int64_t> shape, bool required = true, ggml_backend_dev_t dev = nullptr) {
    return weights_->get(name, std::move(shape), required, dev);
  };
  const int64_t E = hp_.n_embd, D = hp_.head_dim, H = hp_.n_head, HKV = hp_.n_head_kv;
  const int64_t V = hp_.n_vocab;

  // the input embeddings stay on the CPU (get_rows of a few rows); the output layer goes where
  // llama.cpp puts it, a tied one as a copy of the table
  tok_embd = weight("token_embd.weight", {E, V});
  output_norm = weight("output_norm.weight", {E}, true, output_dev_);
  output = weight("output.weight", {E, V}, false, output_dev_);
  hp_.tied_output = output == nullptr;
  if (!output) output = output_dev_ ? weights_->copy_on(tok_embd, output_dev_) : tok_embd;

  layers.resize(hp_.n_layer);
  for (uint32_t il = 0; il < hp_.n_layer; ++il) {
    GemmaLayer& l = layers[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t F = hp_.n_ff[il];
    ggml_backend_dev_t d = layer_device(il);
    l.attn_norm = weight(p + "attn_norm.weight", {E}, true, d);
    l.wq = weight(p + "attn_q.weight", {E, H * D}, true, d);
    l.wk = weight(p + "attn_k.weight", {E, HKV * D}, true, d);
    l.wv = weight(p + "attn_v.weight", {E, HKV * D}, true, d);
    l.wo = weight(p + "attn_output.weight", {H * D, E}, true, d);
    l.q_norm = hp_.has_qk_norm ? weight(p + "attn_q_norm.weight", {D}, true, d) : nullptr;
    l.k_norm = hp_.has_qk_norm ? weight(p + "attn_k_norm.weight", {D}, true, d) : nullptr;
    l.post_attn_norm = hp_.has_post_norms ? weight(p + "post_attention_norm.weight", {E}, true, d) : nullptr;
    l.ffn_norm = weight(p + "ffn_norm.weight", {E}, true, d);
    l.ffn_gate = weight(p + "ffn_gate.weight", {E, F}, true, d);
    l.ffn_up = weight(p + "ffn_up.weight", {E, F}, true, d);
    l.ffn_down = weight(p + "ffn_down.weight", {F, E}, true, d);
    l.post_ffw_norm = hp_.has_post_norms ? weight(p + "post_ffw_norm.weight", {E}, true, d) : nullptr;
  }

  std::vector<ggml_tensor**> matrices;
  for (GemmaLayer& l : layers) {
    for (ggml_tensor** w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) matrices.push_back(w);
  }
  if (hp_.causal) {
    matrices.push_back(&output);
  } else {
    build_dense();
    for (ggml_tensor** w : {&dense_2, &dense_3}) if (*w) matrices.push_back(w);
  }
  weights_->place(matrices, tok_embd);
}

// EmbeddingGemma's two projections after pooling. llama.cpp's converter writes them only when
// asked (--sentence-transformers-dense-modules), and llama.cpp then silently returns vectors
// without them: such a file is refused here. An HF directory runs the modules its modules.json lists.
void Model::build_dense() {
  const int64_t E = hp_.n_embd;
  const StoredTensor* d2 = weights_->source().find("dense_2.weight");
  const StoredTensor* d3 = weights_->source().find("dense_3.weight");
  if (format_ == "gguf" && (!d2 || !d3)) {
    throw Error("ERR_UNSUPPORTED_MODEL", weights_->source().path +
                                             ": this EmbeddingGemma GGUF lacks its Dense layers (dense_2, dense_3), so its vectors would not be "
                                             "the model's; convert it with convert_hf_to_gguf.py --sentence-transformers-dense-modules, "
                                             "or load the HF directory");
  }
  if (!d2 && !d3) return;
  const int64_t F = d2 ? d2->ne[1] : d3->ne[0];
  if (!(d2 && d3) && F != E) {
    throw bad_file(weights_->source().path, "a single Dense layer must keep the width (" + std::to_string(E) + "), not make it " + std::to_string(F));
  }
  if (d2) dense_2 = weights_->get("dense_2.weight", {E, F});
  if (d3) dense_3 = weights_->get("dense_3.weight", {d2 ? F : E, E});
}

Model::~Model() = default;

}  // namespace potron

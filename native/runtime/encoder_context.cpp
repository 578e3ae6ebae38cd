#include "encoder_context.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "errors.h"

namespace potron {

static constexpr size_t kGraphMaxNodes = 8192;

EncoderContext::EncoderContext(std::shared_ptr<const EncoderModel> model, const EncoderContextParams& params)
    : model_(std::move(model)), params_(params) {
  const uint32_t n_ctx = model_->hp().n_ctx_train;
  if (params_.n_ubatch == 0) params_.n_ubatch = n_ctx;
  if (params_.n_ubatch > (1u << 16)) throw Error("ERR_INVALID_ARG", "n_ubatch must be at most 65536");
  if (params_.n_threads <= 0) params_.n_threads = physical_cores();
  backend_ = std::make_unique<CpuBackend>(params_.n_threads);
  backend_->set_abort_callback([](void* data) { return static_cast<std::atomic<bool>*>(data)->load(); }, &abort_);
  galloc_.reset(ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_->get())));
  graph_meta_.resize(ggml_tensor_overhead() * kGraphMaxNodes + ggml_graph_overhead_custom(kGraphMaxNodes, false));
}

void EncoderContext::validate(const Inputs& inputs, const Inputs& types) const {
  if (inputs.empty()) throw Error("ERR_INVALID_ARG", "no inputs to encode");
  if (!types.empty()) {
    const uint32_t n_types = std::max<uint32_t>(model_->hp().n_token_types, 1);
    if (types.size() != inputs.size()) throw Error("ERR_INVALID_ARG", "token types must be given for every input or for none");
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i].size() != inputs[i].size()) {
        throw Error("ERR_INVALID_ARG", "input " + std::to_string(i) + " has " + std::to_string(inputs[i].size()) + " tokens but " +
                                           std::to_string(types[i].size()) + " token types");
      }
      for (int32_t t : types[i]) {
        if (t < 0 || static_cast<uint32_t>(t) >= n_types) {
          throw Error("ERR_INVALID_ARG", "token type " + std::to_string(t) + " in input " + std::to_string(i) + " is not one of this model's " +
                                             std::to_string(n_types));
        }
      }
    }
  }
  const uint32_t n_vocab = model_->hp().n_vocab;
  const uint32_t limit = std::min(params_.n_ubatch, model_->hp().n_ctx_train);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t>& in = inputs[i];
    if (in.empty()) throw Error("ERR_INVALID_ARG", "input " + std::to_string(i) + " has no tokens");
    if (in.size() > limit) {
      throw Error("ERR_CONTEXT_LENGTH", "input " + std::to_string(i) + " is " + std::to_string(in.size()) +
                                            " tokens; this model reads at most " + std::to_string(limit));
    }
    for (int32_t t : in) {
      if (t < 0 || static_cast<uint32_t>(t) >= n_vocab) {
        throw Error("ERR_INVALID_ARG", "token " + std::to_string(t) + " in input " + std::to_string(i) +
                                           " is outside the vocabulary (0.." + std::to_string(n_vocab - 1) + ")");
      }
    }
  }
}

std::vector<float> EncoderContext::encode(const Inputs& inputs, const Inputs& types) {
  std::vector<float> out;
  ComputeThread::shared().run([&] { out = encode_here(inputs, types); });
  return out;
}

std::vector<float> EncoderContext::encode_here(const Inputs& inputs, const Inputs& types) {
  validate(inputs, types);
  const uint32_t E = model_->n_out();
  std::vector<float> out(inputs.size() * E);
  // whole inputs, in order, as many as fit in a ubatch
  size_t first = 0;
  while (first < inputs.size()) {
    if (abort_.load()) throw Error("ERR_ABORTED", "encoding was aborted");
    size_t count = 0;
    uint32_t tokens = 0;
    while (first + count < inputs.size() && count < kMaxSeqsPerUbatch &&
           tokens + inputs[first + count].size() <= params_.n_ubatch) {
      tokens += static_cast<uint32_t>(inputs[first + count].size());
      ++count;
    }
    run_ubatch(inputs, types, first, count, tokens, out.data() + first * E);
    first += count;
  }
  return out;
}

void EncoderContext::run_ubatch(const Inputs& inputs, const Inputs& types, size_t first, size_t count, uint32_t T, float* out) {
  const EncoderHParams& hp = model_->hp();
  bool typed = false;  // the graph reads token types only when some token is not type 0
  for (size_t s = 0; s < count && !types.empty() && !typed; ++s) {
    for (int32_t t : types[first + s]) typed = typed || t != 0;
  }
  const EncoderGraphShape shape{T, static_cast<uint32_t>(count), params_.flash_attn, typed};
  ggml_init_params ip{graph_meta_.size(), graph_meta_.data(), /*no_alloc=*/true};
  ggml_context* ctx = ggml_init(ip);
  struct Free {
    ggml_context* c;
    ~Free() { ggml_free(c); }
  } free_ctx{ctx};
  ggml_cgraph* gf = ggml_new_graph_custom(ctx, kGraphMaxNodes, false);
  EncoderGraphInputs in{};
  ggml_tensor* pooled = build_encoder_graph(ctx, *model_, shape, in);
  ggml_build_forward_expand(gf, pooled);
  if (!ggml_gallocr_alloc_graph(galloc_.get(), gf)) throw Error("ERR_NO_MEMORY", "could not allocate the compute buffer");

  std::vector<int32_t> tokens, type_ids, pos, rows;
  std::vector<int32_t> seq_of;  // the ubatch's sequence of each token
  tokens.reserve(T);
  for (size_t s = 0; s < count; ++s) {
    const std::vector<int32_t>& input = inputs[first + s];
    rows.push_back(static_cast<int32_t>(tokens.size()) + (hp.pooling == Pooling::Last ? static_cast<int32_t>(input.size()) - 1 : 0));
    for (size_t j = 0; j < input.size(); ++j) {
      tokens.push_back(input[j]);
      if (typed) type_ids.push_back(types[first + s][j]);
      pos.push_back(static_cast<int32_t>(j));
      seq_of.push_back(static_cast<int32_t>(s));
    }
  }
  ggml_backend_tensor_set(in.tokens, tokens.data(), 0, T * sizeof(int32_t));
  ggml_backend_tensor_set(in.pos, pos.data(), 0, T * sizeof(int32_t));
  if (in.types) ggml_backend_tensor_set(in.types, type_ids.data(), 0, T * sizeof(int32_t));

  // mask[t][j]: token t sees token j of its own sequence only; on sliding layers (EmbeddingGemma)
  // only those within half the window either side, as llama.cpp's symmetric window
  const uint32_t half_window = model_->gemma() ? model_->gemma()->hp().sliding_window / 2 : 0;
  auto fill = [&](ggml_tensor* m, bool windowed) {
    if (!m) return;
    std::vector<float> mask(static_cast<size_t>(T) * T, -std::numeric_limits<float>::infinity());
    for (uint32_t t = 0; t < T; ++t) {
      for (uint32_t j = 0; j < T; ++j) {
        const bool near = !windowed || static_cast<uint32_t>(std::abs(pos[t] - pos[j])) <= half_window;
        if (seq_of[t] == seq_of[j] && near) mask[static_cast<size_t>(t) * T + j] = 0.0f;
      }
    }
    if (m->type == GGML_TYPE_F16) {
      std::vector<ggml_fp16_t> mask16(mask.size());
      ggml_fp32_to_fp16_row(mask.data(), mask16.data(), static_cast<int64_t>(mask.size()));
      ggml_backend_tensor_set(m, mask16.data(), 0, ggml_nbytes(m));
    } else {
      ggml_backend_tensor_set(m, mask.data(), 0, ggml_nbytes(m));
    }
  };
  fill(in.mask, false);
  fill(in.mask_swa, true);
  if (in.mean) {
    std::vector<float> mean(static_cast<size_t>(T) * count, 0.0f);  // [S][T]
    for (uint32_t t = 0; t < T; ++t) {
      const int32_t s = seq_of[t];
      mean[static_cast<size_t>(s) * T + t] = 1.0f / static_cast<float>(inputs[first + s].size());
    }
    ggml_backend_tensor_set(in.mean, mean.data(), 0, ggml_nbytes(in.mean));
  } else {
    ggml_backend_tensor_set(in.rows, rows.data(), 0, rows.size() * sizeof(int32_t));
  }

  const ggml_status st = ggml_backend_graph_compute(backend_->get(), gf);
  if (st == GGML_STATUS_ABORTED) throw Error("ERR_ABORTED", "encoding was aborted");
  if (st != GGML_STATUS_SUCCESS) throw Error("ERR_COMPUTE", "graph computation failed (status " + std::to_string(st) + ")");
  ggml_backend_tensor_get(pooled, out, 0, ggml_nbytes(pooled));
}

}  // namespace potron

// Runs an encoder (embedding) model over many inputs at once: whole inputs packed into ubatches
// of up to n_ubatch tokens, one pooled vector each, on a compute thread of its own.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "compute_thread.h"
#include "encoder_graph.h"
#include "encoder_model.h"
#include "ggml-alloc.h"

namespace potron {

struct EncoderContextParams {
  uint32_t n_ubatch = 0;  // tokens per graph; 0: the model's context (an input must fit in one)
  int n_threads = 0;      // 0: physical cores
  bool flash_attn = true;
};

class EncoderContext {
 public:
  // Sequences in one ubatch at most (the mean-pooling matrix is tokens x sequences).
  static constexpr uint32_t kMaxSeqsPerUbatch = 256;

  EncoderContext(std::shared_ptr<const EncoderModel> model, const EncoderContextParams& params);
  EncoderContext(const EncoderContext&) = delete;
  EncoderContext& operator=(const EncoderContext&) = delete;

  const EncoderContextParams& params() const { return params_; }
  const EncoderModel& model() const { return *model_; }

  // One pooled vector (n_embd floats, not normalized; a reranker: n_cls_out scores) per input, in
  // input order. Inputs are token ids, each 1..n_ubatch long; `types` (empty, or one per input
  // and token) their token types. Runs on the context's compute thread.
  std::vector<float> encode(const std::vector<std::vector<int32_t>>& inputs, const std::vector<std::vector<int32_t>>& types = {});
  void request_abort() { abort_.store(true); }
  void reset_abort() { abort_.store(false); }

 private:
  using Inputs = std::vector<std::vector<int32_t>>;
  void validate(const Inputs& inputs, const Inputs& types) const;
  std::vector<float> encode_here(const Inputs& inputs, const Inputs& types);
  void run_ubatch(const Inputs& inputs, const Inputs& types, size_t first, size_t count, uint32_t n_tokens, float* out);

  std::shared_ptr<const EncoderModel> model_;
  EncoderContextParams params_;
  std::unique_ptr<CpuBackend> backend_;
  struct GallocrFree {
    void operator()(ggml_gallocr_t g) const { ggml_gallocr_free(g); }
  };
  std::unique_ptr<ggml_gallocr, GallocrFree> galloc_;
  std::vector<uint8_t> graph_meta_;
  std::atomic<bool> abort_{false};
};

}  // namespace potron

// An inference context: a KV cache shared by up to n_seq_max sequences, and decode(), which
// runs a batch of tokens from any of them (prefill chunks and single steps mixed) in ubatches.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "compute_thread.h"
#include "gemma_graph.h"
#include "ggml-backend.h"
#include "kv_cache.h"
#include "model.h"

namespace potron {

struct ContextParams {
  uint32_t n_ctx = 4096;      // KV cells, shared by all sequences
  uint32_t n_seq_max = 16;
  uint32_t n_ubatch = 512;    // tokens per graph evaluation
  int n_threads = 0;          // 0: physical cores
  ggml_type kv_type = GGML_TYPE_F16;
  bool flash_attn = true;
  bool swa_full = false;      // sliding-window layers keep the whole context, not a ring
};

// Logits handed to JS as they are (no zero-fill, no copy): in a buffer of their own, or in the
// caller's (`out`), which a scheduler reuses every step instead of allocating megabytes each time.
struct Logits {
  std::unique_ptr<float[]> data;
  float* out = nullptr;
  size_t size = 0;
  float* rows() { return out ? out : data.get(); }
};

// Where decode writes the logits: nullptr for a new buffer, else `capacity` floats of the caller's.
struct LogitsDest {
  float* data = nullptr;
  size_t capacity = 0;
};

struct Batch {
  std::vector<int32_t> tokens, pos, seq;
  std::vector<uint8_t> output;  // 1: return this position's logits
};

class Context {
 public:
  Context(std::shared_ptr<const Model> model, const ContextParams& params);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const ContextParams& params() const { return params_; }

  const Model& model() const { return *model_; }
  const KvCache& kv() const { return *kv_; }
  // Validates the whole batch before touching the cache. Returns n_outputs x n_vocab logits,
  // rows in batch order of the flagged positions. On abort or error the cache is as before.
  Logits decode(const Batch& batch, LogitsDest dest = {});  // runs on the context's compute thread
  // Abort is requested from the JS thread; it is reset when a decode is queued, not when it
  // starts, so an abort that arrives before the worker runs is not lost.
  void request_abort() { abort_.store(true); }
  void reset_abort() { abort_.store(false); }

  void seq_rm(int32_t seq, int32_t p0, int32_t p1);
  void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
  std::vector<uint8_t> seq_save(int32_t seq, int32_t p0, int32_t p1, bool sliding_only) const;
  void seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size);
  int32_t seq_pos_max(int32_t seq) const;
  int32_t seq_window_from(int32_t seq) const;
  void clear() { kv_->clear(); }

 private:
  void check_seq(int32_t seq) const;
  void validate(const Batch& batch) const;
  Logits decode_here(const Batch& batch, LogitsDest dest);
  void fill_mask(const Batch& b, size_t begin, uint32_t n, const KvPool& pool, uint32_t n_kv, bool swa, std::vector<float>& mask) const;

  std::shared_ptr<const Model> model_;
  ContextParams params_;
  std::unique_ptr<CpuBackend> backend_;
  struct BackendFree {
    void operator()(ggml_backend_t b) const { ggml_backend_free(b); }
  };
  std::unique_ptr<ggml_backend, BackendFree> gpu_backend_;  // the model's GPU, when it has one
  std::unique_ptr<KvCache> kv_;
  // ggml's scheduler over the context's backends (the model's GPU, then the CPU): it places each
  // node on a backend that holds its weights and supports it, copies what crosses between them,
  // and allocates the compute buffers.
  struct SchedFree {
    void operator()(ggml_backend_sched_t s) const { ggml_backend_sched_free(s); }
  };
  std::unique_ptr<ggml_backend_sched, SchedFree> sched_;  // also freed when the constructor throws
  // The last graph stays built and allocated: the next ubatch of the same shape (every decode
  // step, until the cache grows past the next 256 cells) only refills its inputs.
  struct BuiltGraph {
    ggml_context* ctx = nullptr;
    ggml_cgraph* gf = nullptr;
    ggml_tensor* logits = nullptr;
    GemmaGraphInputs in{};
    GemmaGraphShape shape{};
  } graph_;
  BuiltGraph build_graph(const GemmaGraphShape& shape);
  const BuiltGraph& graph_for(const GemmaGraphShape& shape);
  void reserve_compute_buffer();
  size_t graph_nodes_ = 0;  // capacity of each graph (nodes, and leaves)
  std::vector<uint8_t> graph_meta_;
  std::atomic<bool> abort_{false};
};

}  // namespace potron

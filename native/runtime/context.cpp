#include "context.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend.h"
#include "errors.h"
#include "gemma_graph.h"

namespace potron {

// Nodes (and, separately, leaves) a graph of this model may have: about 40 nodes and 15
// weights a layer, with room to spare. The scheduler's tables scale with it and are cleared on
// every new graph shape, so a fixed 16k made each context 3x slower to create and every shape
// change dearer.
static size_t graph_capacity(const GemmaHParams& hp) { return 96 * static_cast<size_t>(hp.n_layer) + 512; }

Context::Context(std::shared_ptr<const Model> model, const ContextParams& params) : model_(std::move(model)), params_(params) {
  if (params_.n_ctx < 1 || params_.n_ctx > (1u << 24)) throw Error("ERR_INVALID_ARG", "n_ctx must be between 1 and 16777216");
  if (params_.n_seq_max < 1 || params_.n_seq_max > kMaxSeq) {
    throw Error("ERR_INVALID_ARG", "n_seq_max must be between 1 and " + std::to_string(kMaxSeq));
  }
  if (params_.n_ubatch < 1) throw Error("ERR_INVALID_ARG", "n_ubatch must be at least 1");
  if (params_.kv_type != GGML_TYPE_F16 && params_.kv_type != GGML_TYPE_F32) {
    throw Error("ERR_INVALID_ARG", "KV cache type must be f16 or f32");
  }
  if (params_.n_threads <= 0) params_.n_threads = physical_cores();
  backend_ = std::make_unique<CpuBackend>(params_.n_threads);
  backend_->set_abort_callback([](void* data) { return static_cast<std::atomic<bool>*>(data)->load(); }, &abort_);
  std::vector<ggml_backend_t> backends;  // the CPU last: the scheduler's fallback for any op
  if (ggml_backend_dev_t gpu = model_->gpu()) {
    gpu_backend_.reset(ggml_backend_dev_init(gpu, nullptr));
    if (!gpu_backend_) throw Error("ERR_NO_BACKEND", std::string("could not start the backend of ") + ggml_backend_dev_name(gpu));
    backends.push_back(gpu_backend_.get());
  }
  backends.push_back(backend_->get());
  // each layer's keys and values live on its layer's device
  const GemmaHParams& hp = model_->hp();
  std::vector<ggml_backend_buffer_type_t> layer_buft(hp.n_layer, ggml_backend_get_default_buffer_type(backend_->get()));
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    if (ggml_backend_dev_t d = model_->layer_device(il)) layer_buft[il] = ggml_backend_dev_buffer_type(d);
  }
  kv_ = std::make_unique<KvCache>(hp, KvCacheParams{params_.n_ctx, params_.n_seq_max, params_.n_ubatch, params_.swa_full, params_.kv_type},
                                  layer_buft);
  graph_nodes_ = graph_capacity(hp);
  sched_.reset(ggml_backend_sched_new(backends.data(), nullptr, static_cast<int>(backends.size()), graph_nodes_, /*parallel=*/false,
                                      /*op_offload=*/true));
  if (!sched_) throw Error("ERR_NO_MEMORY", "could not create the graph scheduler");
  graph_meta_.resize(ggml_tensor_overhead() * graph_nodes_ + ggml_graph_overhead_custom(graph_nodes_, false));
  reserve_compute_buffer();
}

// Plans the compute buffer once for the largest graph this context can run (a full ubatch over
// the whole cache, logits for every row), as llama.cpp does. Every later graph has the same
// nodes with smaller tensors, so it reuses this plan's offsets instead of packing its own. That
// layout made F32 prefill 15-20% faster here (measured: a compact per-graph plan puts each
// matmul's input and output where the sgemm kernels run slower); untouched pages cost no RSS.
void Context::reserve_compute_buffer() {
  const uint32_t T = std::min(params_.n_ubatch, params_.n_ctx);
  const uint32_t swa_kv = kv_->swa() ? kv_->swa()->padded_size() : kv_->global().padded_size();
  BuiltGraph worst = build_graph({T, kv_->global().padded_size(), swa_kv, T, params_.flash_attn});
  const bool ok = ggml_backend_sched_reserve(sched_.get(), worst.gf);
  ggml_free(worst.ctx);
  if (!ok) throw Error("ERR_NO_MEMORY", "could not allocate the compute buffer for ubatches of " + std::to_string(T) + " tokens");
}

Context::~Context() {
  if (graph_.ctx) ggml_free(graph_.ctx);
}

void Context::check_seq(int32_t seq) const {
  if (seq < 0 || static_cast<uint32_t>(seq) >= params_.n_seq_max) {
    throw Error("ERR_INVALID_ARG", "sequence id " + std::to_string(seq) + " is out of range 0.." +
                                       std::to_string(params_.n_seq_max - 1));
  }
}

void Context::validate(const Batch& b) const {
  const size_t n = b.tokens.size();
  if (n == 0) throw Error("ERR_INVALID_ARG", "the batch is empty");
  if (b.pos.size() != n || b.seq.size() != n || b.output.size() != n) {
    throw Error("ERR_INVALID_ARG", "tokens, positions, sequence ids and output flags must have the same length");
  }
  std::vector<int32_t> last(params_.n_seq_max, -2);
  for (size_t i = 0; i < n; ++i) {
    if (b.tokens[i] < 0 || static_cast<uint32_t>(b.tokens[i]) >= model_->hp().n_vocab) {
      throw Error("ERR_INVALID_ARG", "token " + std::to_string(b.tokens[i]) + " at batch index " + std::to_string(i) +
                                         " is outside the vocabulary (0.." + std::to_string(model_->hp().n_vocab - 1) + ")");
    }
    check_seq(b.seq[i]);
    int32_t& prev = last[b.seq[i]];
    if (prev == -2) prev = kv_->seq_pos_max(b.seq[i]);
    if (b.pos[i] < 0 || b.pos[i] <= prev) {
      throw Error("ERR_INVALID_ARG", "position " + std::to_string(b.pos[i]) + " of sequence " + std::to_string(b.seq[i]) +
                                         " must be after its last position " + std::to_string(prev) +
                                         " (remove positions before decoding them again)");
    }
    prev = b.pos[i];
  }
  if (n > kv_->size() - kv_->used()) {
    throw Error("ERR_CONTEXT_FULL", "the batch needs " + std::to_string(n) + " KV cells but only " +
                                        std::to_string(kv_->size() - kv_->used()) + " of " + std::to_string(kv_->size()) +
                                        " are free; free sequences or use a larger context");
  }
}

// mask[t][j] = 0 where token t may attend to cell j of the pool, -inf elsewhere.
void Context::fill_mask(const Batch& b, size_t begin, uint32_t n, const KvPool& pool, uint32_t n_kv, bool swa,
                        std::vector<float>& mask) const {
  const float ninf = -std::numeric_limits<float>::infinity();
  const uint32_t window = model_->hp().sliding_window;
  mask.assign(static_cast<size_t>(n) * n_kv, ninf);
  for (uint32_t t = 0; t < n; ++t) {
    const int32_t seq = b.seq[begin + t], pos = b.pos[begin + t];
    float* row = mask.data() + static_cast<size_t>(t) * n_kv;
    for (uint32_t j = 0; j < n_kv; ++j) {
      const KvCell& c = pool.cell(j);
      if (!c.seqs.test(seq) || c.pos > pos) continue;
      if (swa && pos - c.pos >= static_cast<int32_t>(window)) continue;
      row[j] = 0.0f;
    }
  }
}

const Context::BuiltGraph& Context::graph_for(const GemmaGraphShape& shape) {
  const GemmaGraphShape& s = graph_.shape;
  if (graph_.ctx && s.n_tokens == shape.n_tokens && s.n_kv == shape.n_kv && s.n_kv_swa == shape.n_kv_swa &&
      s.n_outputs == shape.n_outputs && s.flash_attn == shape.flash_attn) {
    return graph_;
  }
  if (graph_.ctx) ggml_free(graph_.ctx);  // its metadata lives in graph_meta_, reused below
  ggml_backend_sched_reset(sched_.get());
  graph_ = build_graph(shape);
  if (!ggml_backend_sched_alloc_graph(sched_.get(), graph_.gf)) {
    ggml_free(graph_.ctx);
    graph_ = BuiltGraph{};
    throw Error("ERR_NO_MEMORY", "could not allocate the compute buffer");
  }
  return graph_;
}

// Builds a graph of the given shape in graph_meta_ (one graph at a time lives there).
Context::BuiltGraph Context::build_graph(const GemmaGraphShape& shape) {
  BuiltGraph g;
  ggml_init_params ip{graph_meta_.size(), graph_meta_.data(), /*no_alloc=*/true};
  g.ctx = ggml_init(ip);
  g.gf = ggml_new_graph_custom(g.ctx, graph_nodes_, false);
  g.logits = build_gemma_graph(g.ctx, g.gf, *model_, *kv_, shape, g.in);
  g.shape = shape;
  return g;
}

Logits Context::decode(const Batch& b, LogitsDest dest) {
  Logits logits;
  ComputeThread::shared().run([&] { logits = decode_here(b, dest); });
  return logits;
}

Logits Context::decode_here(const Batch& b, LogitsDest dest) {
  validate(b);
  const GemmaHParams& hp = model_->hp();
  const size_t n = b.tokens.size();
  size_t n_outputs_total = 0;
  for (uint8_t o : b.output) n_outputs_total += o ? 1 : 0;
  Logits logits;
  logits.size = n_outputs_total * hp.n_vocab;
  if (dest.data) {
    if (dest.capacity < logits.size) {
      throw Error("ERR_INVALID_ARG", "the output buffer holds " + std::to_string(dest.capacity) + " floats; this batch needs " +
                                         std::to_string(logits.size) + " (outputs x vocabulary)");
    }
    logits.out = dest.data;
  } else {
    logits.data.reset(new float[logits.size]);
  }

  KvSlots claimed;  // every cell this call took, released again if it fails
  size_t out_row = 0;
  std::vector<float> mask;
  std::vector<ggml_fp16_t> mask16;
  try {
    for (size_t begin = 0; begin < n; begin += params_.n_ubatch) {
      if (abort_.load()) throw Error("ERR_ABORTED", "decode was aborted");
      const uint32_t T = static_cast<uint32_t>(std::min<size_t>(params_.n_ubatch, n - begin));
      const KvSlots cells = kv_->claim(&b.pos[begin], &b.seq[begin], T);
      claimed.global.insert(claimed.global.end(), cells.global.begin(), cells.global.end());
      claimed.swa.insert(claimed.swa.end(), cells.swa.begin(), cells.swa.end());

      std::vector<int32_t> out_ids;
      for (uint32_t t = 0; t < T; ++t) if (b.output[begin + t]) out_ids.push_back(static_cast<int32_t>(t));
      const bool want_logits = !out_ids.empty();
      if (!want_logits) out_ids.push_back(T - 1);  // the graph needs one row; its logits are dropped

      const KvPool& swa_pool = kv_->swa() ? *kv_->swa() : kv_->global();
      const GemmaGraphShape shape{T, kv_->global().n_kv(), swa_pool.n_kv(), static_cast<uint32_t>(out_ids.size()), params_.flash_attn};
      const BuiltGraph& g = graph_for(shape);
      const GemmaGraphInputs& in = g.in;

      ggml_backend_tensor_set(in.tokens, &b.tokens[begin], 0, T * sizeof(int32_t));
      ggml_backend_tensor_set(in.pos, &b.pos[begin], 0, T * sizeof(int32_t));
      ggml_backend_tensor_set(in.kv_cells, cells.global.data(), 0, T * sizeof(int64_t));
      if (in.kv_cells_swa) ggml_backend_tensor_set(in.kv_cells_swa, cells.swa.data(), 0, T * sizeof(int64_t));
      ggml_backend_tensor_set(in.out_ids, out_ids.data(), 0, out_ids.size() * sizeof(int32_t));
      for (auto [tensor, swa] : {std::pair{in.mask, false}, std::pair{in.mask_swa, true}}) {
        if (!tensor) continue;
        if (swa) {
          fill_mask(b, begin, T, swa_pool, shape.n_kv_swa, true, mask);
        } else {
          fill_mask(b, begin, T, kv_->global(), shape.n_kv, false, mask);
        }
        if (tensor->type == GGML_TYPE_F16) {
          mask16.resize(mask.size());
          ggml_fp32_to_fp16_row(mask.data(), mask16.data(), static_cast<int64_t>(mask.size()));
          ggml_backend_tensor_set(tensor, mask16.data(), 0, ggml_nbytes(tensor));
        } else {
          ggml_backend_tensor_set(tensor, mask.data(), 0, ggml_nbytes(tensor));
        }
      }

      ggml_status st = ggml_backend_sched_graph_compute(sched_.get(), g.gf);
      if (st == GGML_STATUS_SUCCESS && want_logits) {
        ggml_backend_tensor_get(g.logits, logits.rows() + out_row * hp.n_vocab, 0, ggml_nbytes(g.logits));
        out_row += out_ids.size();
      }
      if (st == GGML_STATUS_ABORTED) throw Error("ERR_ABORTED", "decode was aborted");
      if (st != GGML_STATUS_SUCCESS) throw Error("ERR_COMPUTE", "graph computation failed (status " + std::to_string(st) + ")");
    }
  } catch (...) {
    kv_->release(claimed);
    throw;
  }
  return logits;
}

void Context::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
  check_seq(seq);
  kv_->seq_rm(seq, p0, p1);
}

void Context::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
  check_seq(src);
  check_seq(dst);
  kv_->seq_cp(src, dst, p0, p1);
}

std::vector<uint8_t> Context::seq_save(int32_t seq, int32_t p0, int32_t p1, bool sliding_only) const {
  check_seq(seq);
  return kv_->seq_save(seq, p0, p1, sliding_only);
}

void Context::seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size) {
  check_seq(seq);
  kv_->seq_restore(seq, p0, src, size);
}

int32_t Context::seq_pos_max(int32_t seq) const {
  check_seq(seq);
  return kv_->seq_pos_max(seq);
}

int32_t Context::seq_window_from(int32_t seq) const {
  check_seq(seq);
  return kv_->seq_window_from(seq);
}

}  // namespace potron

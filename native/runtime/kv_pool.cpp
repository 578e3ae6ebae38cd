#include "kv_pool.h"

#include <algorithm>
#include <string>

#include "errors.h"

namespace potron {

// The tensors (and the cell table) are padded to a multiple of 256 cells, as llama.cpp pads
// its caches: n_kv then takes the same values as llama.cpp's for any size, so the attention
// matmuls have the same shapes. Only `size` cells are ever claimed; the padding stays empty (masked).
static uint32_t padded(uint32_t size) { return (size + kKvPad - 1) / kKvPad * kKvPad; }

KvPool::KvPool(const char* name, const GemmaHParams& hp, const std::vector<bool>& layers, uint32_t size, uint32_t window,
               ggml_type type, const std::vector<ggml_backend_buffer_type_t>& layer_buft)
    : name_(name), cells_(padded(size)), size_(size), window_(window), k_(hp.n_layer, nullptr), v_(hp.n_layer, nullptr) {
  const int64_t row = static_cast<int64_t>(hp.head_dim) * hp.n_head_kv;
  std::vector<ggml_backend_buffer_type_t> bufts;  // in the order the layers first use them
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    if (!layers[il]) continue;
    auto at = std::find(bufts.begin(), bufts.end(), layer_buft[il]);
    if (at == bufts.end()) {
      ggml_init_params params{ggml_tensor_overhead() * 2 * hp.n_layer, nullptr, /*no_alloc=*/true};
      ctxs_.push_back(ggml_init(params));
      bufts.push_back(layer_buft[il]);
      at = bufts.end() - 1;
    }
    ggml_context* ctx = ctxs_[at - bufts.begin()];
    k_[il] = ggml_new_tensor_2d(ctx, type, row, padded(size));
    v_[il] = ggml_new_tensor_2d(ctx, type, row, padded(size));
    ggml_format_name(k_[il], "cache_k_l%u", il);
    ggml_format_name(v_[il], "cache_v_l%u", il);
  }
  for (size_t i = 0; i < ctxs_.size(); ++i) {
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctxs_[i], bufts[i]);
    if (!buf) {
      for (ggml_backend_buffer_t b : bufs_) ggml_backend_buffer_free(b);
      for (ggml_context* c : ctxs_) ggml_free(c);
      throw Error("ERR_NO_MEMORY", "could not allocate a KV cache of " + std::to_string(size) + " cells for the " + name + " layers in " +
                                       ggml_backend_buft_name(bufts[i]) + " memory");
    }
    ggml_backend_buffer_clear(buf, 0);  // unused cells must hold finite values (masked, but multiplied)
    bufs_.push_back(buf);
  }
}

KvPool::~KvPool() {
  for (ggml_backend_buffer_t b : bufs_) ggml_backend_buffer_free(b);
  for (ggml_context* c : ctxs_) ggml_free(c);
}

size_t KvPool::bytes() const {
  size_t b = 0;
  for (ggml_backend_buffer_t buf : bufs_) b += ggml_backend_buffer_get_size(buf);
  return b;
}

size_t KvPool::pos_bytes() const {
  size_t b = 0;
  for (size_t il = 0; il < k_.size(); ++il) {
    if (k_[il]) b += 2 * ggml_row_size(k_[il]->type, k_[il]->ne[0]);
  }
  return b;
}

// A ring cell can be overwritten when every sequence that sees it has moved at least a window
// past it. One position more is kept than the next token needs (n_swa, not n_swa - 1), so a
// sequence can also go back one token (a prompt resumed at its last token, re-decoded for its logits).
bool KvPool::reusable(const KvCell& c, const std::vector<int32_t>& seq_max) const {
  if (c.empty()) return true;
  if (window_ == 0) return false;
  for (size_t s = c.seqs._Find_first(); s < kMaxSeq; s = c.seqs._Find_next(s)) {
    if (seq_max[s] - c.pos < static_cast<int32_t>(window_)) return false;
  }
  return true;
}

std::vector<int64_t> KvPool::claim(const int32_t* pos, const int32_t* seq, uint32_t n) {
  std::vector<int64_t> out;
  out.reserve(n);
  if (window_ == 0) {
    for (uint32_t i = 0; i < size_ && out.size() < n; ++i) {
      if (cells_[i].empty()) out.push_back(i);
    }
  } else {
    // every owner's window is measured from the positions it holds before this ubatch
    std::vector<int32_t> seq_max(kMaxSeq, -1);
    for (const KvCell& c : cells_) {
      for (size_t s = c.seqs._Find_first(); s < kMaxSeq; s = c.seqs._Find_next(s)) seq_max[s] = std::max(seq_max[s], c.pos);
    }
    // llama.cpp's order: on from the head, back to the start when the cells before it are mostly free
    uint32_t at = head_ > used_ + 2 * n ? 0 : head_;
    for (uint32_t tested = 0; tested < size_ && out.size() < n; ++tested, ++at) {
      if (at >= size_) at = 0;
      if (reusable(cells_[at], seq_max)) out.push_back(at);
    }
  }
  if (out.size() < n) {
    const uint32_t have = static_cast<uint32_t>(out.size());
    throw Error("ERR_CONTEXT_FULL", "the KV cache is full: " + std::to_string(n) + " more positions needed, " + std::to_string(have) +
                                        " free of " + std::to_string(size_) + " cells (" + name_ +
                                        " layers); free sequences or create the context with a larger size");
  }
  for (uint32_t t = 0; t < n; ++t) {
    KvCell& c = cells_[out[t]];
    if (c.empty()) ++used_;  // a reused ring cell leaves the sequences that saw it
    c.pos = pos[t];
    c.seqs.reset();
    c.seqs.set(seq[t]);
  }
  if (window_) head_ = static_cast<uint32_t>(out.back() + 1) % size_;
  return out;
}

void KvPool::release(const std::vector<int64_t>& cells) {
  for (int64_t i : cells) {
    if (!cells_[i].empty()) --used_;
    cells_[i] = KvCell{};
  }
}

uint32_t KvPool::n_kv() const {
  uint32_t last = 0;
  for (uint32_t i = size_; i > 0; --i) {
    if (!cells_[i - 1].empty()) { last = i; break; }
  }
  return std::min(padded_size(), std::max(kKvPad, padded(last)));
}

int32_t KvPool::seq_pos_max(int32_t seq) const {
  int32_t m = -1;
  for (const auto& c : cells_) if (c.seqs.test(seq)) m = std::max(m, c.pos);
  return m;
}

std::vector<int32_t> KvPool::seq_positions(int32_t seq) const {
  std::vector<int32_t> out;
  for (const auto& c : cells_) if (c.seqs.test(seq)) out.push_back(c.pos);
  std::sort(out.begin(), out.end());
  return out;
}

void KvPool::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
  for (auto& c : cells_) {
    if (!c.seqs.test(seq) || c.pos < p0 || (p1 >= 0 && c.pos >= p1)) continue;
    c.seqs.reset(seq);
    if (c.empty()) { c.pos = -1; --used_; }
  }
}

void KvPool::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
  if (src == dst) return;
  seq_rm(dst, p0, p1);  // dst becomes a copy of src over the range, not a mix of both
  for (auto& c : cells_) {
    if (c.seqs.test(src) && c.pos >= p0 && (p1 < 0 || c.pos < p1)) c.seqs.set(dst);
  }
}

void KvPool::clear() {
  for (auto& c : cells_) c = KvCell{};
  used_ = 0;
  head_ = 0;
}

std::vector<int64_t> KvPool::seq_cells(int32_t seq, int32_t p0, int32_t p1) const {
  if (p0 < 0 || p1 < p0) throw Error("ERR_INVALID_ARG", "positions [" + std::to_string(p0) + ", " + std::to_string(p1) + ") are not a range");
  std::vector<int64_t> at(static_cast<size_t>(p1 - p0), -1);
  for (size_t i = 0; i < cells_.size(); ++i) {
    const KvCell& c = cells_[i];
    if (c.seqs.test(seq) && c.pos >= p0 && c.pos < p1) at[c.pos - p0] = static_cast<int64_t>(i);
  }
  for (size_t j = 0; j < at.size(); ++j) {
    if (at[j] < 0) {
      throw Error("ERR_INVALID_ARG", "sequence " + std::to_string(seq) + " holds no position " + std::to_string(p0 + j) +
                                          " in the " + name_ + " layers; only cached positions can be saved");
    }
  }
  return at;
}

// For each layer of the pool, the K rows then the V rows of the cells, in their order.
// copy(tensor, byte offset of the row, offset in the saved bytes, row bytes).
template <typename Copy>
static void each_row(const std::vector<ggml_tensor*>& k, const std::vector<ggml_tensor*>& v, const std::vector<int64_t>& cells,
                     Copy copy) {
  size_t at = 0;
  for (size_t il = 0; il < k.size(); ++il) {
    if (!k[il]) continue;
    for (ggml_tensor* t : {k[il], v[il]}) {
      const size_t row = ggml_row_size(t->type, t->ne[0]);
      for (int64_t cell : cells) {
        copy(t, cell * t->nb[1], at, row);
        at += row;
      }
    }
  }
}

void KvPool::read_rows(const std::vector<int64_t>& cells, uint8_t* dst) const {
  each_row(k_, v_, cells, [dst](ggml_tensor* t, size_t offset, size_t at, size_t bytes) { ggml_backend_tensor_get(t, dst + at, offset, bytes); });
}

void KvPool::write_rows(const std::vector<int64_t>& cells, const uint8_t* src) {
  each_row(k_, v_, cells, [src](ggml_tensor* t, size_t offset, size_t at, size_t bytes) { ggml_backend_tensor_set(t, src + at, offset, bytes); });
}

}  // namespace potron

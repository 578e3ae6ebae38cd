#include "kv_cache.h"

#include <algorithm>
#include <string>

#include "errors.h"

namespace potron {

// The tensors (and the cell table) are padded to a multiple of 256 cells, as llama.cpp pads
// its context: n_kv then takes the same values as llama.cpp's for any context size, so the
// attention matmuls have the same shapes and sum in the same order. Only `size` cells are ever
// claimed; the padding stays empty (masked).
static uint32_t padded(uint32_t size) { return (size + kKvPad - 1) / kKvPad * kKvPad; }

KvCache::KvCache(const GemmaHParams& hp, uint32_t size, ggml_type type, ggml_backend_t backend)
    : cells_(padded(size)), size_(size) {
  ggml_init_params params{ggml_tensor_overhead() * 2 * hp.n_layer, nullptr, /*no_alloc=*/true};
  ctx_ = ggml_init(params);
  const int64_t row = static_cast<int64_t>(hp.head_dim) * hp.n_head_kv;
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    k_.push_back(ggml_new_tensor_2d(ctx_, type, row, padded(size)));
    v_.push_back(ggml_new_tensor_2d(ctx_, type, row, padded(size)));
    ggml_format_name(k_.back(), "cache_k_l%u", il);
    ggml_format_name(v_.back(), "cache_v_l%u", il);
  }
  buf_ = ggml_backend_alloc_ctx_tensors(ctx_, backend);
  if (!buf_) {
    ggml_free(ctx_);
    throw Error("ERR_NO_MEMORY", "could not allocate a KV cache of " + std::to_string(size) + " cells");
  }
  ggml_backend_buffer_clear(buf_, 0);  // unused cells must hold finite values (masked, but multiplied)
}

KvCache::~KvCache() {
  if (buf_) ggml_backend_buffer_free(buf_);
  if (ctx_) ggml_free(ctx_);
}

size_t KvCache::bytes() const { return ggml_backend_buffer_get_size(buf_); }

std::vector<int64_t> KvCache::claim(const int32_t* pos, const int32_t* seq, uint32_t n) {
  if (n > size() - used_) {
    throw Error("ERR_CONTEXT_FULL", "the KV cache is full: " + std::to_string(n) + " more positions needed, " +
                                        std::to_string(size() - used_) + " free of " + std::to_string(size()) +
                                        "; free sequences or create the context with a larger size");
  }
  std::vector<int64_t> out;
  out.reserve(n);
  for (uint32_t i = 0; i < size() && out.size() < n; ++i) {
    if (!cells_[i].empty()) continue;
    const size_t t = out.size();
    cells_[i].pos = pos[t];
    cells_[i].seqs.set(seq[t]);
    out.push_back(i);
  }
  used_ += n;
  return out;
}

void KvCache::release(const std::vector<int64_t>& cells) {
  for (int64_t i : cells) {
    if (!cells_[i].empty()) --used_;
    cells_[i] = KvCell{};
  }
}

uint32_t KvCache::n_kv() const {
  uint32_t last = 0;
  for (uint32_t i = size(); i > 0; --i) {
    if (!cells_[i - 1].empty()) { last = i; break; }
  }
  return std::min(padded_size(), std::max(kKvPad, padded(last)));
}

int32_t KvCache::seq_pos_max(int32_t seq) const {
  int32_t m = -1;
  for (const auto& c : cells_) if (c.seqs.test(seq)) m = std::max(m, c.pos);
  return m;
}

void KvCache::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
  for (auto& c : cells_) {
    if (!c.seqs.test(seq) || c.pos < p0 || (p1 >= 0 && c.pos >= p1)) continue;
    c.seqs.reset(seq);
    if (c.empty()) { c.pos = -1; --used_; }
  }
}

void KvCache::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
  if (src == dst) return;
  seq_rm(dst, p0, p1);  // dst becomes a copy of src over the range, not a mix of both
  for (auto& c : cells_) {
    if (c.seqs.test(src) && c.pos >= p0 && (p1 < 0 || c.pos < p1)) c.seqs.set(dst);
  }
}

size_t KvCache::row_bytes() const { return ggml_row_size(k_[0]->type, k_[0]->ne[0]); }

size_t KvCache::cell_bytes() const { return 2 * k_.size() * row_bytes(); }

std::vector<int64_t> KvCache::seq_cells(int32_t seq, int32_t p0, int32_t p1) const {
  if (p0 < 0 || p1 < p0) throw Error("ERR_INVALID_ARG", "positions [" + std::to_string(p0) + ", " + std::to_string(p1) + ") are not a range");
  std::vector<int64_t> at(static_cast<size_t>(p1 - p0), -1);
  for (size_t i = 0; i < cells_.size(); ++i) {
    const KvCell& c = cells_[i];
    if (c.seqs.test(seq) && c.pos >= p0 && c.pos < p1) at[c.pos - p0] = static_cast<int64_t>(i);
  }
  for (size_t j = 0; j < at.size(); ++j) {
    if (at[j] < 0) {
      throw Error("ERR_INVALID_ARG", "sequence " + std::to_string(seq) + " holds no position " + std::to_string(p0 + j) +
                                          "; only cached positions can be saved");
    }
  }
  return at;
}

size_t KvCache::seq_save_size(int32_t seq, int32_t p0, int32_t p1) const {
  return seq_cells(seq, p0, p1).size() * cell_bytes();
}

// The saved layout: for each layer, the K rows then the V rows of the cells, in their order.
// copy(tensor, byte offset of the row, offset in the saved bytes, row bytes).
template <typename Copy>
static void each_row(const std::vector<ggml_tensor*>& k, const std::vector<ggml_tensor*>& v,
                     const std::vector<int64_t>& cells, size_t row, Copy copy) {
  size_t at = 0;
  for (size_t il = 0; il < k.size(); ++il) {
    for (ggml_tensor* t : {k[il], v[il]}) {
      for (int64_t cell : cells) {
        copy(t, cell * t->nb[1], at, row);
        at += row;
      }
    }
  }
}

void KvCache::seq_save(int32_t seq, int32_t p0, int32_t p1, uint8_t* dst) const {
  each_row(k_, v_, seq_cells(seq, p0, p1), row_bytes(),
           [dst](ggml_tensor* t, size_t offset, size_t at, size_t bytes) { ggml_backend_tensor_get(t, dst + at, offset, bytes); });
}

void KvCache::seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size) {
  if (p0 < 0) throw Error("ERR_INVALID_ARG", "p0 must be >= 0");
  if (size % cell_bytes() != 0) {
    throw Error("ERR_INVALID_ARG", "the saved data is " + std::to_string(size) + " bytes, not a multiple of " +
                                        std::to_string(cell_bytes()) + " (one position of this context's cache): it was saved from another context");
  }
  const auto n = static_cast<uint32_t>(size / cell_bytes());
  seq_rm(seq, p0, p0 + static_cast<int32_t>(n));
  std::vector<int32_t> pos(n), seqs(n, seq);
  for (uint32_t j = 0; j < n; ++j) pos[j] = p0 + static_cast<int32_t>(j);
  each_row(k_, v_, claim(pos.data(), seqs.data(), n), row_bytes(),
           [src](ggml_tensor* t, size_t offset, size_t at, size_t bytes) { ggml_backend_tensor_set(t, src + at, offset, bytes); });
}

void KvCache::clear() {
  for (auto& c : cells_) c = KvCell{};
  used_ = 0;
}

}  // namespace potron

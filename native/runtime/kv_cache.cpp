#include "kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "errors.h"

namespace potron {

namespace {

constexpr uint32_t kSaveMagic = 0x314b5650;  // "PVK1"

struct SaveHeader {
  uint32_t magic, n, global, swa;
};

}  // namespace

KvCache::KvCache(const GemmaHParams& hp, const KvCacheParams& p, const std::vector<ggml_backend_buffer_type_t>& layer_buft) : is_swa_(hp.n_layer, false) {
  bool any_swa = false, any_global = false;
  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    is_swa_[il] = hp.sliding_window > 0 && hp.layer_is_swa[il];
    (is_swa_[il] ? any_swa : any_global) = true;
  }
  // llama.cpp: PAD(min(n_ctx, n_swa * n_seq + n_ubatch), 256) cells for the sliding layers
  const uint64_t ring = static_cast<uint64_t>(hp.sliding_window) * p.n_seq_max + p.n_ubatch;
  const uint32_t ring_size = static_cast<uint32_t>(std::min<uint64_t>(p.n_ctx, (ring + kKvPad - 1) / kKvPad * kKvPad));
  const bool split = any_swa && any_global && !p.swa_full && ring_size < p.n_ctx;
  std::vector<bool> global_layers(hp.n_layer, true), swa_layers(hp.n_layer, false);
  if (split) {
    for (uint32_t il = 0; il < hp.n_layer; ++il) {
      global_layers[il] = !is_swa_[il];
      swa_layers[il] = is_swa_[il];
    }
  }
  global_ = std::make_unique<KvPool>(split ? "global" : "attention", hp, global_layers, p.n_ctx, 0, p.type, layer_buft);
  if (split) swa_ = std::make_unique<KvPool>("sliding-window", hp, swa_layers, ring_size, hp.sliding_window, p.type, layer_buft);
}

KvSlots KvCache::claim(const int32_t* pos, const int32_t* seq, uint32_t n) {
  KvSlots out;
  out.global = global_->claim(pos, seq, n);
  if (swa_) {
    try {
      out.swa = swa_->claim(pos, seq, n);
    } catch (...) {
      global_->release(out.global);
      throw;
    }
  }
  return out;
}

void KvCache::release(const KvSlots& cells) {
  global_->release(cells.global);
  if (swa_) swa_->release(cells.swa);
}

int32_t KvCache::seq_window_from(int32_t seq) const {
  if (!swa_) return 0;
  const std::vector<int32_t> held = swa_->seq_positions(seq);
  int32_t lost = -1;  // the highest position held globally but not in the ring
  for (int32_t p : global_->seq_positions(seq)) {
    if (p > lost && !std::binary_search(held.begin(), held.end(), p)) lost = p;
  }
  return lost + 1;
}

void KvCache::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
  global_->seq_rm(seq, p0, p1);
  if (swa_) swa_->seq_rm(seq, p0, p1);
}

void KvCache::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
  global_->seq_cp(src, dst, p0, p1);
  if (swa_) swa_->seq_cp(src, dst, p0, p1);
}

void KvCache::clear() {
  global_->clear();
  if (swa_) swa_->clear();
}

std::vector<uint8_t> KvCache::seq_save(int32_t seq, int32_t p0, int32_t p1, bool sliding_only) const {
  if (p0 < 0 || p1 < p0) throw Error("ERR_INVALID_ARG", "positions [" + std::to_string(p0) + ", " + std::to_string(p1) + ") are not a range");
  if (sliding_only && !swa_) {
    throw Error("ERR_INVALID_ARG", "this context keeps every layer in one cache (no separate sliding-window cache to save)");
  }
  const auto n = static_cast<uint32_t>(p1 - p0);
  std::vector<int64_t> g_cells;
  if (!sliding_only) g_cells = global_->seq_cells(seq, p0, p1);
  std::vector<int64_t> s_cells;
  if (swa_) {
    // the positions at the end of the range that the ring holds without a gap; with the global
    // rows, at most a window of them: what continuing after the range needs (earlier ring rows
    // would only take ring cells on their return)
    const std::vector<int32_t> held = swa_->seq_positions(seq);
    const int32_t stop = sliding_only ? p0 : std::max(p0, p1 - static_cast<int32_t>(swa_->window()));
    int32_t from = p1;
    while (from > stop && std::binary_search(held.begin(), held.end(), from - 1)) --from;
    if (sliding_only && from > p0) {
      throw Error("ERR_INVALID_ARG", "sequence " + std::to_string(seq) + " no longer holds position " + std::to_string(from - 1) +
                                          " in its sliding-window layers");
    }
    s_cells = swa_->seq_cells(seq, from, p1);
  }
  const SaveHeader h{kSaveMagic, n, static_cast<uint32_t>(g_cells.size()), static_cast<uint32_t>(s_cells.size())};
  std::vector<uint8_t> out(sizeof h + g_cells.size() * global_->pos_bytes() + (swa_ ? s_cells.size() * swa_->pos_bytes() : 0));
  std::memcpy(out.data(), &h, sizeof h);
  global_->read_rows(g_cells, out.data() + sizeof h);
  if (swa_) swa_->read_rows(s_cells, out.data() + sizeof h + g_cells.size() * global_->pos_bytes());
  return out;
}

void KvCache::seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size) {
  if (p0 < 0) throw Error("ERR_INVALID_ARG", "p0 must be >= 0");
  SaveHeader h{};
  if (size >= sizeof h) std::memcpy(&h, src, sizeof h);
  const size_t want = sizeof h + static_cast<size_t>(h.global) * global_->pos_bytes() + (swa_ ? static_cast<size_t>(h.swa) * swa_->pos_bytes() : 0);
  if (size < sizeof h || h.magic != kSaveMagic || (h.global != 0 && h.global != h.n) || h.swa > h.n || (!swa_ && h.swa) ||
      size != want) {
    throw Error("ERR_INVALID_ARG", "the saved data (" + std::to_string(size) +
                                        " bytes) does not fit this context's cache: it was not saved by seqSave() of a context of this model with the same settings");
  }
  if (static_cast<int64_t>(p0) + h.n > INT32_MAX) throw Error("ERR_INVALID_ARG", "positions past 2^31");
  const int32_t end = p0 + static_cast<int32_t>(h.n);
  const uint8_t* rows = src + sizeof h;
  std::vector<int32_t> seqs(h.n, seq), pos(h.n);
  for (uint32_t j = 0; j < h.n; ++j) pos[j] = p0 + static_cast<int32_t>(j);
  if (h.global) {
    global_->seq_rm(seq, p0, end);
    global_->write_rows(global_->claim(pos.data(), seqs.data(), h.n), rows);
    rows += static_cast<size_t>(h.global) * global_->pos_bytes();
  }
  if (h.swa) {
    const int32_t from = end - static_cast<int32_t>(h.swa);
    swa_->seq_rm(seq, from, end);
    std::vector<int64_t> cells;
    try {
      cells = swa_->claim(pos.data() + (from - p0), seqs.data(), h.swa);
    } catch (...) {
      if (h.global) global_->seq_rm(seq, p0, end);
      throw;
    }
    swa_->write_rows(cells, rows);
  }
}

}  // namespace potron

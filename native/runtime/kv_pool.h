// One pool of KV cells: per cell a position and the set of sequences that see it, and per
// layer it serves a K and a V tensor with one row per cell. Copying a sequence (prefix reuse)
// only adds a sequence to cells, never copies tensor data.
//
// A pool for global layers keeps a cell until every sequence has removed it. A pool for
// sliding-window layers (window > 0) is a ring: a cell whose position is outside the window of
// every sequence that sees it is reused, as llama.cpp's SWA cache reuses them.
#pragma once
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "hparams.h"

namespace potron {

constexpr uint32_t kMaxSeq = 256;
constexpr uint32_t kKvPad = 256;  // llama.cpp's padding of the context and of n_kv

struct KvCell {
  int32_t pos = -1;
  std::bitset<kMaxSeq> seqs;
  bool empty() const { return seqs.none(); }
};

class KvPool {
 public:
  // layers[il]: whether layer il keeps its keys and values here, in memory of type
  // layer_buft[il] (one buffer per type: a model split between a GPU and the CPU keeps each
  // layer's cache on its layer's device). window 0: global cells.
  KvPool(const char* name, const GemmaHParams& hp, const std::vector<bool>& layers, uint32_t size, uint32_t window,
         ggml_type type, const std::vector<ggml_backend_buffer_type_t>& layer_buft);
  ~KvPool();
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  uint32_t size() const { return size_; }  // usable cells
  uint32_t padded_size() const { return static_cast<uint32_t>(cells_.size()); }
  uint32_t used() const { return used_; }
  uint32_t window() const { return window_; }
  const KvCell& cell(uint32_t i) const { return cells_[i]; }
  ggml_tensor* k(uint32_t il) const { return k_[il]; }  // [head_dim*n_head_kv, padded_size]; null for another pool's layer
  ggml_tensor* v(uint32_t il) const { return v_[il]; }
  size_t bytes() const;
  size_t pos_bytes() const;  // K and V rows of one position over this pool's layers

  // Cells for tokens at (pos[i], seq[i]); throws ERR_CONTEXT_FULL when there are too few.
  // Global: free cells, lowest first. Ring: llama.cpp's find_slot order (from the head on,
  // wrapping) over free cells and cells outside every owner's window, which are emptied.
  std::vector<int64_t> claim(const int32_t* pos, const int32_t* seq, uint32_t n);
  void release(const std::vector<int64_t>& cells);  // undo a claim (aborted decode)
  // Cells [0, n_kv) cover every used cell; padded to 256 as llama.cpp pads, so graph shapes
  // change rarely and match llama.cpp's.
  uint32_t n_kv() const;
  int32_t seq_pos_max(int32_t seq) const;  // -1 when the sequence holds no cell here
  std::vector<int32_t> seq_positions(int32_t seq) const;  // sorted

  void seq_rm(int32_t seq, int32_t p0, int32_t p1);  // [p0, p1), p1 < 0: to the end
  void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
  void clear();

  // The cells of positions [p0, p1) of seq in position order; throws when one is missing.
  std::vector<int64_t> seq_cells(int32_t seq, int32_t p0, int32_t p1) const;
  // Rows of the cells, for each layer of this pool the K rows then the V rows.
  void read_rows(const std::vector<int64_t>& cells, uint8_t* dst) const;
  void write_rows(const std::vector<int64_t>& cells, const uint8_t* src);

 private:
  bool reusable(const KvCell& c, const std::vector<int32_t>& seq_max) const;

  const char* name_;
  std::vector<KvCell> cells_;  // padded_size() of them; only the first size_ are claimed
  uint32_t size_ = 0;
  uint32_t used_ = 0;
  uint32_t window_ = 0;
  uint32_t head_ = 0;  // ring: where the next search starts
  std::vector<ggml_tensor*> k_, v_;
  std::vector<ggml_context*> ctxs_;
  std::vector<ggml_backend_buffer_t> bufs_;
};

}  // namespace potron

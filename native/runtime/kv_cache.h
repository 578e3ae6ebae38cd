// The KV cache shared by all sequences of a context. Each cell holds one position's keys and
// values for every layer and the set of sequences that see it, so copying a sequence (prefix
// reuse) only adds a sequence to cells, never copies tensor data.
#pragma once
#include <bitset>
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

class KvCache {
 public:
  KvCache(const GemmaHParams& hp, uint32_t size, ggml_type type, ggml_backend_t backend);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  uint32_t size() const { return size_; }  // usable cells
  uint32_t padded_size() const { return static_cast<uint32_t>(cells_.size()); }  // cells in the tensors
  uint32_t used() const { return used_; }
  const KvCell& cell(uint32_t i) const { return cells_[i]; }
  ggml_tensor* k(uint32_t il) const { return k_[il]; }   // [head_dim*n_head_kv, padded_size]
  ggml_tensor* v(uint32_t il) const { return v_[il]; }   // [head_dim*n_head_kv, padded_size]
  size_t bytes() const;

  // Claims n free cells (lowest first) for tokens at (pos[i], seq[i]); throws when full.
  std::vector<int64_t> claim(const int32_t* pos, const int32_t* seq, uint32_t n);
  void release(const std::vector<int64_t>& cells);  // undo a claim (aborted decode)
  // Cells [0, n_kv) cover every used cell; padded to 256 as llama.cpp pads, so graph shapes
  // change rarely and match llama.cpp's.
  uint32_t n_kv() const;
  int32_t seq_pos_max(int32_t seq) const;  // -1 when the sequence is empty

  void seq_rm(int32_t seq, int32_t p0, int32_t p1);                 // [p0, p1), p1 < 0: to the end
  void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
  void clear();

  // Saving and restoring a sequence's cells (a preempted request swapped out instead of
  // recomputed). The bytes: for each layer, the K rows then the V rows of positions p0, p0+1, ...
  size_t cell_bytes() const;  // one position's K and V over all layers
  // Checks that seq holds every position of [p0, p1) and returns the bytes they take.
  size_t seq_save_size(int32_t seq, int32_t p0, int32_t p1) const;
  void seq_save(int32_t seq, int32_t p0, int32_t p1, uint8_t* dst) const;
  // Puts n = size / cell_bytes() saved positions back as p0 .. p0+n-1 of seq (in new cells,
  // replacing any it holds there); throws ERR_CONTEXT_FULL when n cells are not free.
  void seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size);

 private:
  std::vector<int64_t> seq_cells(int32_t seq, int32_t p0, int32_t p1) const;  // in position order
  size_t row_bytes() const;

  std::vector<KvCell> cells_;  // padded_size() of them; only the first size_ are claimed
  uint32_t size_ = 0;
  uint32_t used_ = 0;
  std::vector<ggml_tensor*> k_, v_;
  ggml_context* ctx_ = nullptr;
  ggml_backend_buffer_t buf_ = nullptr;
};

}  // namespace potron

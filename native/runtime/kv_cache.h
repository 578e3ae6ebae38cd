// The KV cache shared by all sequences of a context, shaped like Gemma's attention: the global
// layers keep every position in a pool the size of the context; the sliding-window layers keep
// a ring of window x sequences + one ubatch cells (llama.cpp's iSWA sizing), since they never
// look further back. With one kind of layer, or when the ring would be as large as the
// context anyway (or swa_full), one pool serves every layer.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kv_pool.h"

namespace potron {

struct KvCacheParams {
  uint32_t n_ctx = 4096;
  uint32_t n_seq_max = 1;
  uint32_t n_ubatch = 512;
  bool swa_full = false;  // sliding layers keep the whole context too
  ggml_type type = GGML_TYPE_F16;
};

// Cells one claim took in each pool (swa empty when there is one pool).
struct KvSlots {
  std::vector<int64_t> global, swa;
};

class KvCache {
 public:
  // layer_buft[il]: the memory layer il's keys and values live in (its layer's device's).
  KvCache(const GemmaHParams& hp, const KvCacheParams& params, const std::vector<ggml_backend_buffer_type_t>& layer_buft);

  // Admission, sizes and accounting speak of the global pool: every cached position has a cell there.
  uint32_t size() const { return global_->size(); }
  uint32_t used() const { return global_->used(); }
  size_t bytes() const { return global_->bytes() + (swa_ ? swa_->bytes() : 0); }
  const KvPool& global() const { return *global_; }
  const KvPool* swa() const { return swa_.get(); }  // null: one pool for every layer
  // The pool that holds layer il's keys and values.
  const KvPool& pool(uint32_t il) const { return swa_ && is_swa_[il] ? *swa_ : *global_; }

  KvSlots claim(const int32_t* pos, const int32_t* seq, uint32_t n);
  void release(const KvSlots& cells);
  int32_t seq_pos_max(int32_t seq) const { return global_->seq_pos_max(seq); }
  // The first position from which the sliding layers still hold every position seq holds; 0
  // with one pool. Continuing seq at p (after removing [p, end)) gives exact results iff
  // this is 0 or p - window + 1 >= this.
  int32_t seq_window_from(int32_t seq) const;

  void seq_rm(int32_t seq, int32_t p0, int32_t p1);
  void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
  void clear();

  // Saving and restoring a sequence's rows (swapping a preempted request out; keeping a
  // sliding window for a later request sharing the prefix). The bytes: a header (magic,
  // positions n, global positions g (n or 0), sliding positions s (the last s of the range)),
  // then the global pool's rows, then the sliding pool's (KvPool::read_rows order each).
  // Saves [p0, p1) of seq: every position from the global pool and, of the positions at the end
  // of the range that the ring holds in a row, up to a window (what continuing at p1 needs).
  // sliding_only: the ring's rows of every position of the range (or it throws), nothing else.
  std::vector<uint8_t> seq_save(int32_t seq, int32_t p0, int32_t p1, bool sliding_only) const;
  // Puts saved rows back as positions p0, p0 + 1, ... of seq (in new cells, replacing any it
  // holds there); throws ERR_CONTEXT_FULL when there are too few cells (the range is then
  // removed from seq) and ERR_INVALID_ARG for data saved from another kind of context.
  void seq_restore(int32_t seq, int32_t p0, const uint8_t* src, size_t size);

 private:
  std::vector<bool> is_swa_;
  std::unique_ptr<KvPool> global_, swa_;
};

}  // namespace potron

// Weights as their files hold them, under the runtime's (GGUF) tensor names, wherever they came
// from: a GGUF file or an HF checkpoint's safetensors shards. The model decides from this what
// stays in the mapping and what it converts into memory of its own; the graph builder never
// learns where a weight came from.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "ggml.h"
#include "mapped_file.h"

namespace potron {

struct StoredTensor {
  std::string name;          // runtime name, e.g. "blk.0.attn_q.weight"
  std::string file_name;     // the name in the file (an HF name), for messages
  const MappedFile* file;    // the mapping that holds the bytes
  ggml_type type;            // GGML_TYPE_COUNT: the file's dtype has no ggml equivalent
  std::string type_name;     // the file's name for its dtype, for messages
  int n_dims;
  int64_t ne[4];             // ggml order: ne[0] is the contiguous dimension
  const uint8_t* data;
  uint64_t nbytes;
  bool add_one = false;      // an HF RMSNorm weight: the graph multiplies by (1 + w)
};

struct WeightSource {
  std::string path;                 // the GGUF file or the HF directory
  std::string format;               // "gguf" | "hf"
  bool auto_keeps_types = false;    // dtype 'auto' keeps the file's own types (GGUF)
  std::vector<std::shared_ptr<MappedFile>> files;
  std::vector<StoredTensor> tensors;

  const StoredTensor* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors[it->second];
  }
  // Skips the first `rows` rows of a 2-D tensor (RoBERTa's position table, whose positions start
  // at pad_token_id + 1, as llama.cpp's converter cuts it). False when the tensor is not there.
  bool drop_leading_rows(const std::string& name, int64_t rows) {
    auto it = index_.find(name);
    if (it == index_.end()) return false;
    StoredTensor& t = tensors[it->second];
    if (t.n_dims != 2 || rows < 0 || rows >= t.ne[1] || t.type == GGML_TYPE_COUNT || ggml_is_quantized(t.type)) {
      throw bad_file(t.file->path(), "tensor '" + t.file_name + "' cannot lose its first " + std::to_string(rows) + " rows");
    }
    const uint64_t row = t.nbytes / static_cast<uint64_t>(t.ne[1]);
    t.data += row * static_cast<uint64_t>(rows);
    t.nbytes -= row * static_cast<uint64_t>(rows);
    t.ne[1] -= rows;
    return true;
  }
  void add(StoredTensor t) {
    if (index_.count(t.name)) {
      throw bad_file(t.file->path(), "tensor '" + t.file_name + "' is stored twice (as '" + tensors[index_[t.name]].file_name + "' too)");
    }
    index_[t.name] = tensors.size();
    tensors.push_back(std::move(t));
  }

 private:
  std::map<std::string, size_t> index_;
};

class GgufFile;
// Every tensor of a GGUF file, in place (dtype 'auto' keeps their types).
WeightSource gguf_weight_source(const GgufFile& g);

}  // namespace potron

// A model's weights placed for computing, whatever the family: each declared weight checked
// against its file (presence, shape, a type the runtime can use), then placed once: in the
// mapping where its type is used as stored, in memory of our own where it is converted (the
// dtype policy, HF norms' +1), in one of ggml's faster CPU layouts (AMX, interleaved quants)
// exactly where llama.cpp would put it, or uploaded into a GPU's memory when the model declares
// it there. The families' models (models/) declare, this places.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "weight_source.h"

namespace potron {

class Weights {
 public:
  // float_type: the type float matrices are held in; GGML_TYPE_COUNT keeps the files' own.
  // repack: matrices may go into ggml's extra layouts (llama.cpp's default; --no-repack: false).
  // file_name: the name a runtime tensor has in the files, for messages about a missing one.
  Weights(WeightSource src, ggml_type float_type, bool repack, std::function<std::string(const std::string&)> file_name);
  ~Weights();
  Weights(const Weights&) = delete;
  Weights& operator=(const Weights&) = delete;

  const WeightSource& source() const { return src_; }

  // Declares a weight: nullptr when it is optional and absent. 1-D weights are held as F32.
  // dev: the device whose memory holds it; nullptr: the CPU.
  ggml_tensor* get(const std::string& name, std::vector<int64_t> shape, bool required = true, ggml_backend_dev_t dev = nullptr);
  // A second copy of a declared weight, held on dev: Gemma's tied output matrix when the output
  // layer runs on a GPU while the embedding table (read with get_rows) stays on the CPU.
  ggml_tensor* copy_on(const ggml_tensor* t, ggml_backend_dev_t dev);

  // After every get(): places them all. `matrices` may move into an extra layout (the slots are
  // updated); `rows` (an embedding table read with get_rows) keeps its plain copy too.
  void place(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows);

  size_t bytes() const { return mapped_bytes_ + owned_bytes_ + repacked_bytes_ + device_bytes_; }
  size_t mapped_bytes() const { return mapped_bytes_; }
  size_t device_bytes() const { return device_bytes_; }  // in devices' own memory (GPUs)
  size_t repacked_bytes() const { return repacked_bytes_; }
  const std::string& file_type() const { return file_type_; }  // the files' type of most weight bytes
  const std::string& held_type() const { return held_type_; }  // the type of most matrix bytes as held

 private:
  void free_all();
  void choose_layouts(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows);
  void place_plain();
  void fill_layouts(const ggml_tensor* rows);
  void upload(const ggml_tensor* rows);
  void copy_in(ggml_tensor* t, const StoredTensor& s, bool keep_mapped, std::vector<uint8_t>& tmp) const;
  const MappedFile* mapping_of(const void* p) const;
  void describe_types(const std::vector<ggml_tensor**>& matrices, const ggml_tensor* rows);

  WeightSource src_;
  ggml_type float_type_;
  bool repack_;
  std::function<std::string(const std::string&)> file_name_;
  std::vector<std::pair<ggml_tensor*, const StoredTensor*>> planned_;
  ggml_context* ctx_ = nullptr;
  std::vector<ggml_backend_buffer_t> mapped_bufs_;  // one per mapped file
  ggml_backend_buffer_t buf_owned_ = nullptr;       // converted weights
  struct Repacked {  // matrices held in one of ggml's extra layouts (AMX, CPU_REPACK)
    ggml_context* ctx;
    ggml_backend_buffer_type_t buft;
    ggml_backend_buffer_t buf;
    std::vector<std::pair<ggml_tensor*, const StoredTensor*>> tensors;
  };
  std::vector<Repacked> repacked_;
  std::set<const ggml_tensor*> relaid_;  // originals replaced by their Repacked twin
  std::map<const ggml_tensor*, ggml_backend_dev_t> on_device_;  // weights a device's memory holds
  std::vector<ggml_backend_buffer_t> device_bufs_;                // one per device
  size_t mapped_bytes_ = 0, owned_bytes_ = 0, repacked_bytes_ = 0, device_bytes_ = 0;
  std::string file_type_, held_type_;
};

}  // namespace potron

// A validating GGUF reader over a read-only mmap. Every count, length, type and offset is
// checked against the file before use, so a truncated or hostile file raises potron::Error and
// never reads out of bounds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.h"

namespace potron {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

struct GgufValue {
  GgufType type;
  GgufType elem_type;       // ARRAY only
  uint64_t count = 1;       // ARRAY: number of elements
  const uint8_t* data;      // scalar bytes, or the first array element (inside the mapping)
  std::vector<std::string_view> strings;  // STRING (one) or ARRAY of STRING

  bool is_number() const;
  double as_number() const;                       // any scalar numeric or bool
  double element(uint64_t i) const;               // numeric array element
  std::string_view as_string() const { return strings.at(0); }
};

struct GgufTensorInfo {
  std::string name;
  uint32_t n_dims;
  int64_t ne[4];
  uint32_t type;            // ggml_type
  uint64_t offset;          // from the start of the data section
  uint64_t nbytes;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(const std::string& name) const;
  const uint8_t* data_base() const { return file_->data() + data_offset_; }
  std::shared_ptr<MappedFile> file() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace potron

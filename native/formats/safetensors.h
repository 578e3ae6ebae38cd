// A validating safetensors reader over a read-only mmap (the format HF checkpoints use:
// 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
// byte range, then the data). Like the GGUF reader, every length, dtype, shape and offset is
// checked before use, so a truncated or hostile file raises potron::Error, never reads out of
// bounds.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mapped_file.h"

namespace potron {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;            // as written, e.g. "BF16"
  size_t elem_size;             // bytes per element
  std::vector<int64_t> shape;   // outermost dimension first, as in the file
  const uint8_t* data;          // inside the mapping
  uint64_t nbytes;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* tensor(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::shared_ptr<MappedFile> file() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace potron

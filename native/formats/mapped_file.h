// A whole file mapped read-only; weights are used in place, never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "platform.h"

namespace potron {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return map_.data; }
  size_t size() const { return map_.size; }
  const std::string& path() const { return path_; }
  // Drops the pages of [offset, offset+size) from this process (they are read again on use).
  void release(size_t offset, size_t size) const;

 private:
  std::string path_;
  platform::Mapping map_;
};

}  // namespace potron

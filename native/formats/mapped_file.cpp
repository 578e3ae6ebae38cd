#include "mapped_file.h"

#include "errors.h"

namespace potron {

MappedFile::MappedFile(const std::string& path) : path_(path), map_(platform::map_file(path)) {
  if (map_.size == 0) throw bad_file(path, "file is empty");
}

void MappedFile::release(size_t offset, size_t size) const { platform::release_pages(map_, offset, size); }

MappedFile::~MappedFile() { platform::unmap_file(map_); }

}  // namespace potron

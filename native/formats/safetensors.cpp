#include "safetensors.h"

#include <algorithm>
#include <cstring>

#include "errors.h"
#include "hf_json.h"

namespace potron {
namespace {

// The reference implementation refuses headers over 100 MB; a larger one is hostile.
constexpr uint64_t kMaxHeader = 100'000'000;
constexpr int64_t kMaxDim = int64_t(1) << 40;

// Byte-sized dtypes of the safetensors spec. Sub-byte ones (F4, F6_*) are not weights we load.
size_t dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},     {"U32", 4},
      {"F32", 4},  {"F64", 8}, {"I64", 8},  {"U64", 8},     {"C64", 8},
  };
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

uint64_t as_u64(const json& v, const std::string& path, const std::string& what) {
  if (!v.is_number_unsigned()) throw bad_file(path, what + " must be a non-negative integer");
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  const uint8_t* base = file_->data();
  const uint64_t size = file_->size();
  if (size < 8) throw bad_file(path, "truncated: a safetensors file starts with an 8-byte header length");
  uint64_t n_header;
  std::memcpy(&n_header, base, 8);
  if (n_header > kMaxHeader) {
    throw bad_file(path, "header length " + std::to_string(n_header) + " is implausible (at most 100 MB allowed)");
  }
  if (n_header > size - 8) {
    throw bad_file(path, "truncated: the header needs " + std::to_string(n_header) + " bytes but the file has " +
                             std::to_string(size - 8) + " after the length");
  }
  if (n_header < 2 || base[8] != '{') throw bad_file(path, "header is not a JSON object");
  const char* hb = reinterpret_cast<const char*>(base + 8);
  const json header = parse_json(hb, hb + n_header, path, "header");
  if (!header.is_object()) throw bad_file(path, "header is not a JSON object");

  const uint64_t data_start = 8 + n_header;
  const uint64_t data_size = size - data_start;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw bad_file(path, "__metadata__ must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw bad_file(path, "__metadata__ '" + k + "' must be a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + name + "'";
    if (name.empty()) throw bad_file(path, "a tensor has an empty name");
    if (!entry.is_object()) throw bad_file(path, what + " must be an object with dtype, shape and data_offsets");
    auto field = [&](const char* key) -> const json& {
      auto it = entry.find(key);
      if (it == entry.end()) throw bad_file(path, what + " has no " + key);
      return *it;
    };
    SafetensorsTensor t{};
    t.name = name;
    const json& dtype = field("dtype");
    if (!dtype.is_string()) throw bad_file(path, what + " dtype must be a string");
    t.dtype = dtype.get<std::string>();
    t.elem_size = dtype_size(t.dtype);
    if (t.elem_size == 0) throw bad_file(path, what + " has unknown or unsupported dtype '" + t.dtype + "'");

    const json& shape = field("shape");
    if (!shape.is_array() || shape.size() > 8) throw bad_file(path, what + " shape must be an array of at most 8 sizes");
    // Element count with overflow checks: each size is at most 2^40 and count * elem_size may
    // not exceed the data section, checked before each product is formed (count * n <= most
    // exactly when count <= most / n), so nothing wraps
    const uint64_t most = data_size / t.elem_size;
    uint64_t count = 1;
    for (const json& d : shape) {
      const uint64_t n = as_u64(d, path, what + " shape entry");
      if (n > static_cast<uint64_t>(kMaxDim)) throw bad_file(path, what + " has an invalid dimension " + std::to_string(n));
      t.shape.push_back(static_cast<int64_t>(n));
      if (n != 0 && count > most / n) {
        throw bad_file(path, what + " is larger than the file's data section (truncated or corrupted)");
      }
      count *= n;
    }

    const json& offs = field("data_offsets");
    if (!offs.is_array() || offs.size() != 2) throw bad_file(path, what + " data_offsets must be [begin, end]");
    const uint64_t begin = as_u64(offs[0], path, what + " data_offsets"), end = as_u64(offs[1], path, what + " data_offsets");
    if (begin > end) throw bad_file(path, what + " data_offsets end before they begin");
    if (end > data_size) {
      throw bad_file(path, "truncated: " + what + " ends at " + std::to_string(data_start + end) + " but the file has " +
                               std::to_string(size) + " bytes");
    }
    t.nbytes = end - begin;
    if (t.nbytes != count * t.elem_size) {
      throw bad_file(path, what + " holds " + std::to_string(t.nbytes) + " bytes but its shape and dtype need " +
                               std::to_string(static_cast<uint64_t>(count * t.elem_size)));
    }
    t.data = base + data_start + begin;
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // No two tensors may share bytes: a hostile header could alias one tensor onto another.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : tensors_) if (t.nbytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->data + by_offset[i - 1]->nbytes > by_offset[i]->data) {
      throw bad_file(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
    }
  }
}

const SafetensorsTensor* SafetensorsFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace potron

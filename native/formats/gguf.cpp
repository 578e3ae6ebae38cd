#include "gguf.h"

#include <cstring>

#include "errors.h"
#include "ggml.h"

namespace potron {
namespace {

constexpr uint64_t kMaxStringLen = 1ull << 30;   // a key or token longer than 1 GiB is hostile
constexpr uint32_t kMaxDims = 4;
constexpr size_t kMaxName = GGML_MAX_NAME - 1;

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    default: return 0;
  }
}

// Bounds-checked cursor over the mapping.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& path) : base_(base), size_(size), path_(path) {}

  size_t offset() const { return off_; }
  size_t remaining() const { return size_ - off_; }

  const uint8_t* take(uint64_t n, const char* what) {
    if (n > remaining()) {
      throw bad_file(path_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
                                std::to_string(off_) + " but the file has " + std::to_string(remaining()) + " left");
    }
    const uint8_t* p = base_ + off_;
    off_ += n;
    return p;
  }

  template <typename T>
  T read(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  std::string_view string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    if (len > kMaxStringLen) throw bad_file(path_, std::string(what) + " has an implausible length " + std::to_string(len));
    const uint8_t* p = take(len, what);
    return std::string_view(reinterpret_cast<const char*>(p), len);
  }

  // A count of items of at least `min_item_bytes` each must fit in what is left of the file;
  // this stops a hostile count from driving a huge allocation.
  void check_count(uint64_t count, uint64_t min_item_bytes, const char* what) {
    if (min_item_bytes > 0 && count > remaining() / min_item_bytes) {
      throw bad_file(path_, std::string(what) + " count " + std::to_string(count) + " cannot fit in the file");
    }
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t off_ = 0;
  const std::string& path_;
};

GgufType checked_type(uint32_t raw, const std::string& path, const std::string& key) {
  if (raw > static_cast<uint32_t>(GgufType::FLOAT64)) {
    throw bad_file(path, "metadata '" + key + "' has unknown value type " + std::to_string(raw));
  }
  return static_cast<GgufType>(raw);
}

bool printable_key(std::string_view k) {
  if (k.empty()) return false;
  for (unsigned char c : k) if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

bool GgufValue::is_number() const {
  return type != GgufType::STRING && type != GgufType::ARRAY;
}

static double read_scalar(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::UINT8: return *p;
    case GgufType::INT8: return static_cast<int8_t>(*p);
    case GgufType::BOOL: return *p ? 1 : 0;
    case GgufType::UINT16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::INT16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::UINT32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::INT32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::FLOAT32: { float v; std::memcpy(&v, p, 4); return v; }
    case GgufType::UINT64: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case GgufType::INT64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case GgufType::FLOAT64: { double v; std::memcpy(&v, p, 8); return v; }
    default: throw Error("ERR_BAD_MODEL_FILE", "metadata value is not a number");
  }
}

double GgufValue::as_number() const {
  if (!is_number()) throw Error("ERR_BAD_MODEL_FILE", "metadata value is not a number");
  return read_scalar(type, data);
}

double GgufValue::element(uint64_t i) const {
  if (type != GgufType::ARRAY || i >= count || elem_type == GgufType::STRING) {
    throw Error("ERR_BAD_MODEL_FILE", "metadata array element out of range or not a number");
  }
  return read_scalar(elem_type, data + i * scalar_size(elem_type));
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  Cursor c(file_->data(), file_->size(), path);
  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) throw bad_file(path, "not a GGUF file (bad magic)");
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    throw bad_file(path, "unsupported GGUF version " + std::to_string(version_) + " (2 and 3 are supported)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  c.check_count(n_kv, 8 + 8 + 4, "metadata");           // empty key + type + smallest value
  c.check_count(n_tensors, 8 + 1 + 4 + 8 + 4 + 8, "tensor");

  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key(c.string("metadata key"));
    if (!printable_key(key)) throw bad_file(path, "metadata key #" + std::to_string(i) + " is empty or not printable");
    if (kv_index_.count(key)) throw bad_file(path, "duplicate metadata key '" + key + "'");
    GgufValue v{};
    v.type = checked_type(c.read<uint32_t>("metadata type"), path, key);
    if (v.type == GgufType::STRING) {
      v.strings.push_back(c.string("metadata string"));
      v.data = reinterpret_cast<const uint8_t*>(v.strings[0].data());
    } else if (v.type == GgufType::ARRAY) {
      v.elem_type = checked_type(c.read<uint32_t>("array type"), path, key);
      v.count = c.read<uint64_t>("array length");
      if (v.elem_type == GgufType::ARRAY) throw bad_file(path, "metadata '" + key + "' is a nested array");
      v.data = file_->data() + c.offset();
      if (v.elem_type == GgufType::STRING) {
        c.check_count(v.count, 8, "string array");
        v.strings.reserve(v.count);
        for (uint64_t j = 0; j < v.count; ++j) v.strings.push_back(c.string("array string"));
      } else {
        size_t es = scalar_size(v.elem_type);
        c.check_count(v.count, es, "array");
        c.take(v.count * es, "array data");
      }
    } else {
      v.data = c.take(scalar_size(v.type), "metadata value");
    }
    kv_index_[key] = kv_.size();
    kv_.emplace_back(std::move(key), std::move(v));
  }

  uint64_t alignment = 32;
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::UINT32) throw bad_file(path, "general.alignment must be uint32");
    alignment = static_cast<uint64_t>(a->as_number());
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      throw bad_file(path, "general.alignment " + std::to_string(alignment) + " is not a power of two");
    }
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t{};
    std::string_view name = c.string("tensor name");
    if (name.empty() || name.size() > kMaxName) {
      throw bad_file(path, "tensor #" + std::to_string(i) + " has a name of length " + std::to_string(name.size()) +
                               " (1.." + std::to_string(kMaxName) + " allowed)");
    }
    t.name = std::string(name);
    if (tensor_index_.count(t.name)) throw bad_file(path, "duplicate tensor '" + t.name + "'");
    t.n_dims = c.read<uint32_t>("tensor dims");
    if (t.n_dims == 0 || t.n_dims > kMaxDims) {
      throw bad_file(path, "tensor '" + t.name + "' has " + std::to_string(t.n_dims) + " dimensions (1..4 allowed)");
    }
    for (int d = 0; d < 4; ++d) t.ne[d] = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      int64_t ne = c.read<int64_t>("tensor shape");
      if (ne <= 0 || ne > (int64_t(1) << 40)) {
        throw bad_file(path, "tensor '" + t.name + "' has an invalid dimension " + std::to_string(ne));
      }
      t.ne[d] = ne;
    }
    t.type = c.read<uint32_t>("tensor type");
    if (t.type >= GGML_TYPE_COUNT || ggml_blck_size(static_cast<ggml_type>(t.type)) == 0 ||
        ggml_type_size(static_cast<ggml_type>(t.type)) == 0) {
      throw bad_file(path, "tensor '" + t.name + "' has unknown or unsupported type " + std::to_string(t.type));
    }
    const auto type = static_cast<ggml_type>(t.type);
    if (t.ne[0] % ggml_blck_size(type) != 0) {
      throw bad_file(path, "tensor '" + t.name + "' row of " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                               ggml_type_name(type) + " block size");
    }
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % alignment != 0) throw bad_file(path, "tensor '" + t.name + "' offset is not aligned");
    // Size with overflow checks: each product is checked against the file's size before it is
    // formed (bytes * n <= size exactly when bytes <= size / n), so nothing wraps
    uint64_t bytes = ggml_row_size(type, t.ne[0]);
    for (int d = 1; d < 4; ++d) {
      const uint64_t n = static_cast<uint64_t>(t.ne[d]);
      if (n != 0 && bytes > file_->size() / n) {
        throw bad_file(path, "tensor '" + t.name + "' is larger than the whole file (truncated or corrupted)");
      }
      bytes *= n;
    }
    t.nbytes = bytes;
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (c.offset() + alignment - 1) / alignment * alignment;
  if (!tensors_.empty() && data_offset_ > file_->size()) throw bad_file(path, "truncated: no room for the tensor data");
  const uint64_t data_size = file_->size() - data_offset_;
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      throw bad_file(path, "truncated: tensor '" + t.name + "' ends at " + std::to_string(data_offset_ + t.offset + t.nbytes) +
                               " but the file has " + std::to_string(file_->size()) + " bytes");
    }
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace potron

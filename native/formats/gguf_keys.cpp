#include "gguf_keys.h"

#include <cmath>

#include "errors.h"

namespace potron {

const GgufValue* gguf_get(const GgufFile& f, const std::string& key, bool required) {
  const GgufValue* v = f.find(key);
  if (!v && required) throw bad_file(f.path(), "missing metadata '" + key + "'");
  return v;
}

std::string gguf_arch(const GgufFile& f) {
  const GgufValue* arch = gguf_get(f, "general.architecture", true);
  if (arch->type != GgufType::STRING) throw bad_file(f.path(), "general.architecture must be a string");
  return std::string(arch->as_string());
}

uint32_t gguf_u32(const GgufFile& f, const std::string& key, uint32_t dflt, bool required) {
  const GgufValue* v = gguf_get(f, key, required);
  if (!v) return dflt;
  if (!v->is_number()) throw bad_file(f.path(), "metadata '" + key + "' must be a number");
  double d = v->as_number();
  if (!(d >= 0 && d <= 0xffffffffu) || d != std::floor(d)) throw bad_file(f.path(), "metadata '" + key + "' is out of range");
  return static_cast<uint32_t>(d);
}

std::optional<double> gguf_opt_f64(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw bad_file(f.path(), "metadata '" + key + "' must be a number");
  const double d = v->as_number();
  if (!std::isfinite(d)) throw bad_file(f.path(), "metadata '" + key + "' is not finite");
  return d;
}

std::optional<uint32_t> gguf_opt_u32(const GgufFile& f, const std::string& key) {
  if (!f.find(key)) return std::nullopt;
  return gguf_u32(f, key, 0);
}

// A numeric array of n elements, each an integer in [lo, hi] (a file may hold anything).
std::vector<uint32_t> gguf_u32_array(const GgufFile& f, const GgufValue& v, const std::string& key, uint32_t n, uint32_t lo, uint32_t hi) {
  if (v.count != n || v.elem_type == GgufType::STRING || v.elem_type == GgufType::ARRAY) {
    throw bad_file(f.path(), "metadata '" + key + "' must list one number per layer (" + std::to_string(n) + ")");
  }
  std::vector<uint32_t> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    const double d = v.element(i);
    if (!(d >= lo && d <= hi) || d != std::floor(d)) {
      throw bad_file(f.path(), "metadata '" + key + "' element " + std::to_string(i) + " must be an integer in " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
    }
    out[i] = static_cast<uint32_t>(d);
  }
  return out;
}


}  // namespace potron

// Typed reads of GGUF metadata with the checks a hostile file needs (range, type, finiteness);
// each failure is a bad_file error naming the key.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gguf.h"

namespace potron {

// general.architecture, which must be a string.
std::string gguf_arch(const GgufFile& f);
const GgufValue* gguf_get(const GgufFile& f, const std::string& key, bool required);
uint32_t gguf_u32(const GgufFile& f, const std::string& key, uint32_t dflt, bool required = false);
std::optional<double> gguf_opt_f64(const GgufFile& f, const std::string& key);
std::optional<uint32_t> gguf_opt_u32(const GgufFile& f, const std::string& key);
// A numeric array of n elements, each an integer in [lo, hi].
std::vector<uint32_t> gguf_u32_array(const GgufFile& f, const GgufValue& v, const std::string& key, uint32_t n, uint32_t lo, uint32_t hi);

}  // namespace potron

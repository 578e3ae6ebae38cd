// Reading the JSON files of an HF model directory (config.json, sentence-transformers' module
// configs): size-limited, depth-limited parsing and typed getters that name the file and the
// field in every error, and never echo a hostile value.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "hf_json.h"

namespace potron {

// A value in an error message: its kind and size, or a short scalar.
std::string describe(const json& v);

// Parses a JSON file of at most 16 MiB; `what` names it in errors.
json read_json_file(const std::string& path, const std::string& what);

// One JSON object of the config with typed getters that name the field in every error.
class Fields {
 public:
  Fields(const json& o, const std::string& path, std::string prefix, std::string file = "config.json")
      : o_(o), path_(path), prefix_(std::move(prefix)), file_(std::move(file)) {}

  // The value, or nullptr when absent (explicit null counts as absent unless keep_null).
  const json* get(const char* key, bool keep_null = false) const {
    auto it = o_.find(key);
    if (it == o_.end() || (it->is_null() && !keep_null)) return nullptr;
    return &*it;
  }
  bool has(const char* key) const { return o_.find(key) != o_.end(); }
  std::string name(const char* key) const { return prefix_ + key; }
  Error bad(const char* key, const std::string& what) const { return bad_file(path_, file_ + ": '" + name(key) + "' " + what); }

  uint32_t u32(const char* key, std::optional<uint32_t> dflt, uint32_t lo, uint32_t hi) const {
    const json* v = get(key);
    if (!v) {
      if (!dflt) throw bad(key, "is missing");
      return *dflt;
    }
    if (!v->is_number_integer() || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
      throw bad(key, "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", not " + describe(*v));
    }
    return static_cast<uint32_t>(v->get<int64_t>());
  }

  // A finite number in (lo, hi]; explicit null gives null_value when one is given.
  double num(const char* key, double dflt, double lo, double hi, std::optional<double> null_value = std::nullopt) const {
    const json* v = get(key, null_value.has_value());
    if (!v) return dflt;
    if (v->is_null()) return *null_value;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || !(v->get<double>() > lo) || v->get<double>() > hi) {
      throw bad(key, "must be a number in (" + fmt(lo) + ", " + fmt(hi) + "], not " + describe(*v));
    }
    return v->get<double>();
  }

  std::string str(const char* key, const std::string& dflt) const {
    const json* v = get(key);
    if (!v) return dflt;
    if (!v->is_string()) throw bad(key, "must be a string, not " + describe(*v));
    return v->get<std::string>();
  }

  bool boolean(const char* key, bool dflt) const {
    const json* v = get(key);
    if (!v) return dflt;
    if (!v->is_boolean()) throw bad(key, "must be true or false, not " + describe(*v));
    return v->get<bool>();
  }

 private:
  static std::string fmt(double d) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", d);
    return b;
  }
  const json& o_;
  const std::string& path_;
  std::string prefix_;
  std::string file_;
};

}  // namespace potron

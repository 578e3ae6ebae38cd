#include "json_fields.h"

#include <cstdio>

#include "mapped_file.h"

namespace potron {

constexpr uint64_t kMaxConfigBytes = 16u << 20;  // real ones are a few KB

// A value in an error message: its kind and size, or a short scalar. Never the value itself,
// which may be megabytes or nested 100,000 deep (dumping it recursively overflows the stack).
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float: {
      char b[32];
      std::snprintf(b, sizeof b, "%g", v.get<double>());
      return b;
    }
    case json::value_t::string: {
      const std::string& str = v.get_ref<const std::string&>();
      if (str.size() <= 40) return json(str).dump(-1, ' ', false, json::error_handler_t::replace);
      return "a string of " + std::to_string(str.size()) + " bytes";
    }
    case json::value_t::array: return "an array of " + std::to_string(v.size()) + " elements";
    case json::value_t::object: return "an object with " + std::to_string(v.size()) + " keys";
    default: return std::string("a value of type ") + v.type_name();
  }
}

json read_json_file(const std::string& path, const std::string& what) {
  MappedFile f(path);
  if (f.size() > kMaxConfigBytes) throw bad_file(path, "is " + std::to_string(f.size()) + " bytes; " + what + " is a few KB");
  const char* p = reinterpret_cast<const char*>(f.data());
  return parse_json(p, p + f.size(), path, what);
}


}  // namespace potron

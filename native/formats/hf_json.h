// nlohmann/json (vendored with the pinned llama.cpp source), with its exceptions kept inside:
// parse() turns malformed input into potron::Error with code ERR_BAD_MODEL_FILE.
#pragma once
#include <string>

#include "errors.h"
#include "nlohmann/json.hpp"

namespace potron {

using json = nlohmann::json;

// Parses [begin, end) as one JSON document; `what` names it in the error ("header", "config.json").
// Nesting deeper than kMaxJsonDepth is refused while parsing: no real header or config comes
// near it, and a hostile one 100,000 levels deep would overflow the stack of any recursive walk.
constexpr int kMaxJsonDepth = 64;

inline json parse_json(const char* begin, const char* end, const std::string& path, const std::string& what) {
  try {
    return json::parse(begin, end, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) {
        throw bad_file(path, what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
      return true;
    });
  } catch (const json::exception& e) {
    throw bad_file(path, what + " is not valid JSON (" + e.what() + ")");
  }
}

inline const char* json_kind(const json& v) { return v.type_name(); }

}  // namespace potron

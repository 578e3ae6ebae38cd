// Errors thrown by the runtime carry a stable `code` that the binding copies onto the JS Error.
#pragma once
#include <stdexcept>
#include <string>

namespace potron {

struct Error : std::runtime_error {
  std::string code;
  Error(std::string code_, const std::string& message) : std::runtime_error(message), code(std::move(code_)) {}
};

// A weight file that is truncated, corrupted or hostile. Messages describe a bad value by its
// kind and size; where one quotes a name or string from the file, it is cut short here, so a
// hostile file cannot put megabytes into an error (and into logs).
inline Error bad_file(const std::string& path, const std::string& what) {
  constexpr size_t kMaxDetail = 400;
  if (what.size() <= kMaxDetail) return Error("ERR_BAD_MODEL_FILE", path + ": " + what);
  return Error("ERR_BAD_MODEL_FILE", path + ": " + what.substr(0, kMaxDetail) + "... (" +
                                         std::to_string(what.size() - kMaxDetail) + " more bytes not shown)");
}

}  // namespace potron

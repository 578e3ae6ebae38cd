// Errors thrown by the runtime carry a stable `code` that the binding copies onto the JS Error.
#pragma once
#include <stdexcept>
#include <string>

namespace potron {

struct Error : std::runtime_error {
  std::string code;
  Error(std::string code_, const std::string& message) : std::runtime_error(message), code(std::move(code_)) {}
};

// A weight file that is truncated, corrupted or hostile.
inline Error bad_file(const std::string& path, const std::string& what) {
  return Error("ERR_BAD_MODEL_FILE", path + ": " + what);
}

}  // namespace potron

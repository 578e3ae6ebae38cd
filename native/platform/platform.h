// What the runtime needs from the operating system, in one place: file mapping, paths, shared
// libraries, a thread with a stack of its own size, a thread's priority, a TCP probe. posix.cpp
// serves Linux and macOS, win32.cpp Windows; the rest of native/ stays free of system headers.
// Paths are UTF-8 everywhere (Windows' wide-character calls are made from them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace potron::platform {

// ---- files ----
struct Mapping {
  uint8_t* data = nullptr;
  size_t size = 0;
};
// Maps a whole regular file read-only. Throws Error ERR_MODEL_NOT_FOUND or ERR_MODEL_OPEN; an
// empty file gives an empty Mapping (the caller says what is wrong with it).
Mapping map_file(const std::string& path);
void unmap_file(const Mapping& m);
// Lets the system drop the mapped pages of [offset, offset + bytes) of m, whole pages only; they
// are read from the file again if used.
void release_pages(const Mapping& m, size_t offset, size_t bytes);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
// The absolute form of path (links resolved where the system does that), or path itself when
// it cannot be resolved.
std::string absolute_path(const std::string& path);

// ---- shared libraries ----
// The folder of the shared library or executable holding this address; empty when unknown.
std::string module_dir(const void* address);
// nullptr and the system's reason in `why` when the library cannot be loaded.
void* open_library(const std::string& path, std::string& why);
void* library_symbol(void* library, const char* name);
void close_library(void* library);
// The CUDA driver's library (asked for a device's compute capability, which ggml does not say).
extern const char* const kCudaDriverLibrary;

// ---- threads ----
struct Thread;
// Starts fn(arg) on a thread with a stack of stack_bytes; throws std::runtime_error if it cannot.
Thread* start_thread(void (*fn)(void*), void* arg, size_t stack_bytes);
// Waits for the thread to end and frees it.
void join_thread(Thread* thread);
// Lowers the calling thread to run only when the CPU is otherwise idle. Linux: SCHED_IDLE (a
// nice-19 thread still takes a share from busy threads); macOS: the background band; Windows:
// background mode. False where none could be set.
bool lower_thread_to_idle();

// ---- network ----
// "" when a TCP connection to host:port opens within timeout_ms, else why not.
std::string tcp_probe(const std::string& host, const std::string& port, int timeout_ms);

}  // namespace potron::platform

// platform.h on Windows: the wide-character calls, from UTF-8 paths.
#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>

#include <mutex>
#include <stdexcept>
#include <vector>

#include "errors.h"
#include "platform.h"

namespace potron::platform {

static std::wstring wide(const std::string& s) {
  if (s.empty()) return L"";
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

static std::string utf8(const std::wstring& w) {
  if (w.empty()) return "";
  const int n = WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr, nullptr);
  return s;
}

// The system's words for an error code (GetLastError, WSAGetLastError).
static std::string message(DWORD code) {
  wchar_t* buf = nullptr;
  const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                                 code, 0, reinterpret_cast<wchar_t*>(&buf), 0, nullptr);
  std::string s = n ? utf8(std::wstring(buf, n)) : "error " + std::to_string(code);
  if (buf) LocalFree(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '.')) s.pop_back();
  return s;
}

Mapping map_file(const std::string& path) {
  HANDLE file = CreateFileW(wide(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                            FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    const bool missing = e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND;
    throw Error(missing ? "ERR_MODEL_NOT_FOUND" : "ERR_MODEL_OPEN", path + ": " + message(e));
  }
  LARGE_INTEGER size{};
  if (GetFileType(file) != FILE_TYPE_DISK || !GetFileSizeEx(file, &size)) {
    CloseHandle(file);
    throw Error("ERR_MODEL_OPEN", path + ": not a regular file");
  }
  Mapping m;
  m.size = static_cast<size_t>(size.QuadPart);
  if (m.size == 0) {
    CloseHandle(file);
    return m;
  }
  HANDLE mapping = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
  const DWORD e = GetLastError();
  CloseHandle(file);
  if (!mapping) throw Error("ERR_MODEL_OPEN", path + ": CreateFileMapping failed: " + message(e));
  void* p = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  const DWORD e2 = GetLastError();
  CloseHandle(mapping);  // the view keeps the mapping alive
  if (!p) throw Error("ERR_MODEL_OPEN", path + ": MapViewOfFile failed: " + message(e2));
  m.data = static_cast<uint8_t*>(p);
  return m;
}

void unmap_file(const Mapping& m) {
  if (m.data) UnmapViewOfFile(m.data);
}

void release_pages(const Mapping& m, size_t offset, size_t bytes) {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  const size_t page = info.dwPageSize;
  const size_t begin = (offset + page - 1) / page * page;
  const size_t end = (offset + bytes) / page * page;
  // documented: unlocking pages that are not locked takes them out of the working set
  if (end > begin) VirtualUnlock(m.data + begin, end - begin);
}

bool file_exists(const std::string& path) { return GetFileAttributesW(wide(path).c_str()) != INVALID_FILE_ATTRIBUTES; }

bool is_directory(const std::string& path) {
  const DWORD a = GetFileAttributesW(wide(path).c_str());
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

std::string absolute_path(const std::string& path) {
  const std::wstring w = wide(path);
  const DWORD n = GetFullPathNameW(w.c_str(), 0, nullptr, nullptr);
  if (!n) return path;
  std::wstring out(n, L'\0');
  const DWORD got = GetFullPathNameW(w.c_str(), n, out.data(), nullptr);
  if (!got || got >= n) return path;
  out.resize(got);
  return utf8(out);
}

std::string module_dir(const void* address) {
  HMODULE module = nullptr;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                          static_cast<LPCWSTR>(address), &module)) {
    return "";
  }
  std::vector<wchar_t> buf(32768);
  const DWORD n = GetModuleFileNameW(module, buf.data(), static_cast<DWORD>(buf.size()));
  if (!n || n >= buf.size()) return "";
  const std::string file = utf8(std::wstring(buf.data(), n));
  const size_t sep = file.find_last_of("\\/");
  return sep == std::string::npos ? "." : file.substr(0, sep);
}

void* open_library(const std::string& path, std::string& why) {
  HMODULE lib = LoadLibraryW(wide(path).c_str());
  if (!lib) why = message(GetLastError());
  return reinterpret_cast<void*>(lib);
}

void* library_symbol(void* library, const char* name) {
  return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(library), name));
}

void close_library(void* library) { FreeLibrary(static_cast<HMODULE>(library)); }

const char* const kCudaDriverLibrary = "nvcuda.dll";

struct Thread {
  HANDLE handle = nullptr;
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

static unsigned __stdcall thread_main(void* t) {
  auto* thread = static_cast<Thread*>(t);
  thread->fn(thread->arg);
  return 0;
}

Thread* start_thread(void (*fn)(void*), void* arg, size_t stack_bytes) {
  auto* t = new Thread{nullptr, fn, arg};
  // STACK_SIZE_PARAM_IS_A_RESERVATION: reserve this much (as the main thread's stack), commit on use
  const uintptr_t h = _beginthreadex(nullptr, static_cast<unsigned>(stack_bytes), thread_main, t,
                                     STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (!h) {
    delete t;
    throw std::runtime_error("could not start a thread: " + message(GetLastError()));
  }
  t->handle = reinterpret_cast<HANDLE>(h);
  return t;
}

void join_thread(Thread* thread) {
  WaitForSingleObject(thread->handle, INFINITE);
  CloseHandle(thread->handle);
  delete thread;
}

bool lower_thread_to_idle() { return SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) != 0; }

std::string tcp_probe(const std::string& host, const std::string& port, int timeout_ms) {
  static std::once_flag once;
  static int started = -1;
  std::call_once(once, [] {
    WSADATA data;
    started = WSAStartup(MAKEWORD(2, 2), &data);
  });
  if (started != 0) return "Windows sockets could not start: " + message(static_cast<DWORD>(started));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) return message(static_cast<DWORD>(rc));
  std::string why = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    SOCKET s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (s == INVALID_SOCKET) continue;
    u_long nonblocking = 1;
    ioctlsocket(s, FIONBIO, &nonblocking);
    int rc = connect(s, a->ai_addr, static_cast<int>(a->ai_addrlen));
    DWORD err = rc == 0 ? 0 : static_cast<DWORD>(WSAGetLastError());
    if (rc != 0 && err == WSAEWOULDBLOCK) {
      WSAPOLLFD p{s, POLLWRNORM, 0};
      const int ready = WSAPoll(&p, 1, timeout_ms);
      int so_error = 0;
      int len = sizeof so_error;
      if (ready == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&so_error), &len) == 0 && so_error == 0) {
        rc = 0;
      } else {
        err = ready == 0 ? static_cast<DWORD>(WSAETIMEDOUT) : static_cast<DWORD>(so_error ? so_error : WSAECONNREFUSED);
      }
    }
    if (rc != 0) why = message(err);
    closesocket(s);
    if (rc == 0) {
      freeaddrinfo(res);
      return "";
    }
  }
  freeaddrinfo(res);
  return why;
}

}  // namespace potron::platform
#endif

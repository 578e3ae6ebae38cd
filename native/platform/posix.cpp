// platform.h on Linux and macOS.
#ifndef _WIN32
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "errors.h"
#include "platform.h"

namespace potron::platform {

Mapping map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw Error(e == ENOENT ? "ERR_MODEL_NOT_FOUND" : "ERR_MODEL_OPEN", path + ": " + std::strerror(e));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("ERR_MODEL_OPEN", path + ": not a regular file");
  }
  Mapping m;
  m.size = static_cast<size_t>(st.st_size);
  if (m.size == 0) {
    ::close(fd);
    return m;
  }
  void* p = mmap(nullptr, m.size, PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) throw Error("ERR_MODEL_OPEN", path + ": mmap failed: " + std::strerror(e));
  m.data = static_cast<uint8_t*>(p);
  return m;
}

void unmap_file(const Mapping& m) {
  if (m.data) munmap(m.data, m.size);
}

void release_pages(const Mapping& m, size_t offset, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t begin = (offset + page - 1) / page * page;
  const size_t end = (offset + bytes) / page * page;
  if (end > begin) madvise(m.data + begin, end - begin, MADV_DONTNEED);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string absolute_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

std::string module_dir(const void* address) {
  Dl_info info{};
  if (!dladdr(address, &info) || !info.dli_fname) return "";
  const std::string file(info.dli_fname);
  const size_t slash = file.find_last_of('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

void* open_library(const std::string& path, std::string& why) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    why = e ? e : "unknown error";
  }
  return lib;
}

void* library_symbol(void* library, const char* name) { return dlsym(library, name); }

void close_library(void* library) { dlclose(library); }

const char* const kCudaDriverLibrary = "libcuda.so.1";

struct Thread {
  pthread_t id{};
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
};

static void* thread_main(void* t) {
  auto* thread = static_cast<Thread*>(t);
  thread->fn(thread->arg);
  return nullptr;
}

Thread* start_thread(void (*fn)(void*), void* arg, size_t stack_bytes) {
  auto* t = new Thread{{}, fn, arg};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  const int rc = pthread_create(&t->id, &attr, thread_main, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete t;
    throw std::runtime_error(std::string("could not start a thread: ") + std::strerror(rc));
  }
  return t;
}

void join_thread(Thread* thread) {
  pthread_join(thread->id, nullptr);
  delete thread;
}

bool lower_thread_to_idle() {
#if defined(__linux__)
  // pid 0 is the calling thread; unprivileged threads may always move to SCHED_IDLE
  sched_param param{};
  return sched_setscheduler(0, SCHED_IDLE, &param) == 0;
#elif defined(__APPLE__)
  return setpriority(PRIO_DARWIN_THREAD, 0, PRIO_DARWIN_BG) == 0;
#else
  return false;
#endif
}

std::string tcp_probe(const std::string& host, const std::string& port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) return gai_strerror(rc);
  std::string why = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      rc = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
      if (rc != 0) errno = err ? err : ETIMEDOUT;
    }
    if (rc != 0) why = std::strerror(errno);
    ::close(fd);
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

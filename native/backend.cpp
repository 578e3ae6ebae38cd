#include "backend.h"

#include <dlfcn.h>

#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "errors.h"
#include "ggml-cpu.h"

namespace potron {

static void load_backends() {
#ifdef POTRON_BACKEND_DL
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&load_backends), &info) && info.dli_fname) {
    std::string dir(info.dli_fname);
    dir = dir.substr(0, dir.find_last_of('/'));
    ggml_backend_load_all_from_path(dir.c_str());
  } else {
    ggml_backend_load_all();
  }
#endif
}

ggml_backend_dev_t cpu_device() {
  static std::once_flag once;
  std::call_once(once, load_backends);
  ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!dev) throw Error("ERR_NO_BACKEND", "no ggml CPU backend could be loaded; reinstall the package");
  return dev;
}

ggml_backend_t new_cpu_backend(int n_threads) {
  ggml_backend_dev_t dev = cpu_device();
  ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
  if (!be) throw Error("ERR_NO_BACKEND", "could not start the ggml CPU backend");
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
  auto set_threads = reinterpret_cast<ggml_backend_set_n_threads_t>(
      ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
  if (set_threads) set_threads(be, n_threads);
  return be;
}

void set_abort_callback(ggml_backend_t backend, ggml_abort_callback cb, void* data) {
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(backend));
  using fn_t = void (*)(ggml_backend_t, ggml_abort_callback, void*);
  auto fn = reinterpret_cast<fn_t>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback"));
  if (fn) fn(backend, cb, data);
}

// Physical cores (hyper-thread siblings counted once): llama.cpp's default, and ours.
int physical_cores() {
  std::set<std::string> siblings;
  for (unsigned cpu = 0; cpu < std::thread::hardware_concurrency(); ++cpu) {
    std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings");
    std::string line;
    if (f && std::getline(f, line)) siblings.insert(line);
  }
  if (!siblings.empty()) return static_cast<int>(siblings.size());
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 4;
}

}  // namespace potron

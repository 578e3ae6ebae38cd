#include "backend.h"

#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "errors.h"
#include "ggml-cpu.h"
#include "platform.h"

namespace potron {

static void load_backends() {
#ifdef POTRON_BACKEND_DL
  std::string dir = platform::module_dir(reinterpret_cast<const void*>(&load_backends));
  if (!dir.empty()) {
#ifdef POTRON_LIBC_DIR
    dir += "/" POTRON_LIBC_DIR;  // Linux prebuilds keep ggml's libraries in a folder per C library
#endif
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

// Functions of the CPU backend are looked up through its registry: in prebuilds the backend
// is a shared library chosen at run time, so they cannot be linked directly.
template <typename Fn>
static Fn cpu_proc(const char* name) {
  return reinterpret_cast<Fn>(ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu_device()), name));
}

CpuBackend::CpuBackend(int n_threads) {
  backend_ = ggml_backend_dev_init(cpu_device(), nullptr);
  if (!backend_) throw Error("ERR_NO_BACKEND", "could not start the ggml CPU backend");
  if (auto set_threads = cpu_proc<ggml_backend_set_n_threads_t>("ggml_backend_set_n_threads")) set_threads(backend_, n_threads);
  auto tp_new = cpu_proc<ggml_threadpool_t (*)(ggml_threadpool_params*)>("ggml_threadpool_new");
  auto tp_attach = cpu_proc<void (*)(ggml_backend_t, ggml_threadpool_t)>("ggml_backend_cpu_set_threadpool");
  threadpool_free_ = cpu_proc<void (*)(ggml_threadpool_t)>("ggml_threadpool_free");
  if (tp_new && tp_attach && threadpool_free_) {
    ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
    threadpool_ = tp_new(&params);
    if (threadpool_) tp_attach(backend_, threadpool_);
  }
}

CpuBackend::~CpuBackend() {
  if (backend_) ggml_backend_free(backend_);
  if (threadpool_) threadpool_free_(threadpool_);
}

void CpuBackend::set_abort_callback(ggml_abort_callback cb, void* data) {
  if (auto fn = cpu_proc<void (*)(ggml_backend_t, ggml_abort_callback, void*)>("ggml_backend_set_abort_callback")) {
    fn(backend_, cb, data);
  }
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

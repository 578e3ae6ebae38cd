// ggml backend selection. Prebuilt addons carry ggml's CPU variants as shared libraries next
// to the .node file; they are loaded once and the best one for this CPU is picked.
#pragma once
#include "ggml-backend.h"

namespace potron {

ggml_backend_dev_t cpu_device();
int physical_cores();

// A CPU backend with its thread count and its own ggml thread-pool object, so a graph run does
// not set one up each time. With OpenMP (our build) the threads are the calling thread's
// OpenMP team (see compute_thread.h); without it, the pool's own persistent threads.
class CpuBackend {
 public:
  explicit CpuBackend(int n_threads);
  ~CpuBackend();
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  ggml_backend_t get() const { return backend_; }
  void set_abort_callback(ggml_abort_callback cb, void* data);

 private:
  ggml_backend_t backend_ = nullptr;
  ggml_threadpool_t threadpool_ = nullptr;
  void (*threadpool_free_)(ggml_threadpool_t) = nullptr;
};

}  // namespace potron

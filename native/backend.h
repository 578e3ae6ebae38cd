// ggml backend selection. Prebuilt addons carry ggml's CPU variants as shared libraries next
// to the .node file; they are loaded once and the best one for this CPU is picked.
#pragma once
#include "ggml-backend.h"

namespace potron {

ggml_backend_dev_t cpu_device();
// A fresh backend with its own thread count (each context computes on its own backend).
ggml_backend_t new_cpu_backend(int n_threads);
void set_abort_callback(ggml_backend_t backend, ggml_abort_callback cb, void* data);
int physical_cores();

}  // namespace potron

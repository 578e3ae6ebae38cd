// potron-rpc-server HOST:PORT [threads]: serves this machine's CPU as a ggml RPC device (as
// llama.cpp's rpc-server does). A process that adds it (addRpcServer) sees a device of GPU type
// whose memory is elsewhere: weights must be uploaded, the KV cache lives there and the graph is
// split between it and the local CPU, which is how the GPU placement path is tested on machines
// without a GPU. Runs until killed.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend.h"
#include "ggml-backend.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: potron-rpc-server HOST:PORT [threads]\n");
    return 2;
  }
  const int threads = argc > 2 ? std::atoi(argv[2]) : potron::physical_cores();
  ggml_backend_dev_t cpu = potron::cpu_device();
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  using start_t = void (*)(const char*, const char*, size_t, size_t, ggml_backend_dev_t*);
  auto start = rpc ? reinterpret_cast<start_t>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_start_server")) : nullptr;
  if (!start) {
    std::fprintf(stderr, "potron-rpc-server: this build has no RPC backend (configure with POTRON_RPC=ON)\n");
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  start(argv[1], nullptr, threads > 0 ? threads : 1, 1, &cpu);
  return 1;  // it returns only when it could not listen
}

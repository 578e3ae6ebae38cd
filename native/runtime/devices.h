// The compute devices ggml offers in this process (CPU always; CUDA, Metal where their backend
// is built in or loaded), as the rest of the runtime and JS see them. Choosing one is policy
// and lives in TypeScript (src/runtime/devices.ts); this only lists them and finds one by name.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "ggml-backend.h"

namespace potron {

struct DeviceInfo {
  std::string name;         // ggml's device name: "CPU", "CUDA0", "MTL0", …
  std::string description;  // e.g. the GPU's or the CPU's model name
  std::string backend;      // its backend's registry name: "CPU", "CUDA", "MTL", …
  std::string kind;         // "cpu" | "gpu" | "igpu" | "accel"
  size_t memory_free = 0, memory_total = 0;
  int compute_major = -1, compute_minor = -1;  // CUDA compute capability; -1 elsewhere
};

std::vector<DeviceInfo> list_devices();
DeviceInfo describe_device(ggml_backend_dev_t dev);
// The device of that name; ERR_NO_DEVICE naming those present when there is none.
ggml_backend_dev_t device_by_name(const std::string& name);

// Registers the devices of a ggml RPC server ("host:port", ggml's rpc-server or our
// potron-rpc-server) and returns them: a device of GPU type whose memory and compute live in that
// process. Builds with POTRON_RPC only (ERR_NO_BACKEND otherwise); ERR_NO_DEVICE when nothing
// answers there. Beware, as in llama.cpp: ggml aborts the process if the server goes away later.
std::vector<DeviceInfo> add_rpc_server(const std::string& endpoint);

// Loads a ggml backend library built on its own (GGML_BACKEND_DL: libggml-cuda.so from the
// optional CUDA package) and returns its devices. Only into an addon whose ggml is itself made of
// shared libraries (prebuilds): one built from source has ggml inside it, and a second ggml
// would not share its registry (ERR_NO_BACKEND says to build the backend in instead).
std::vector<DeviceInfo> load_backend_library(const std::string& path);

}  // namespace potron

#include "devices.h"

#include <cstdlib>
#include <mutex>
#include <set>

#include "backend.h"
#include "errors.h"
#include "platform.h"

namespace potron {

static const char* kind_name(enum ggml_backend_dev_type t) {
  switch (t) {
    case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
    default: return "accel";
  }
}

// ggml does not report a CUDA device's compute capability (the dtype policy needs it: BF16
// from 8.0 on), so the driver is asked directly. ggml numbers its CUDA devices in the driver's
// order (both honour CUDA_VISIBLE_DEVICES), so "CUDA<n>" is driver ordinal n.
static bool cuda_compute_capability(int ordinal, int& major, int& minor) {
  static void* lib = [] {
    std::string why;
    return platform::open_library(platform::kCudaDriverLibrary, why);
  }();
  if (!lib) return false;
  using init_t = int (*)(unsigned);
  using get_t = int (*)(int*, int);
  using attr_t = int (*)(int*, int, int);
  auto init = reinterpret_cast<init_t>(platform::library_symbol(lib, "cuInit"));
  auto get = reinterpret_cast<get_t>(platform::library_symbol(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<attr_t>(platform::library_symbol(lib, "cuDeviceGetAttribute"));
  if (!init || !get || !attr || init(0) != 0) return false;
  int dev = 0;
  if (get(&dev, ordinal) != 0) return false;
  constexpr int kMajor = 75, kMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
  return attr(&major, kMajor, dev) == 0 && attr(&minor, kMinor, dev) == 0;
}

DeviceInfo describe_device(ggml_backend_dev_t dev) {
  DeviceInfo d;
  ggml_backend_dev_props props{};
  ggml_backend_dev_get_props(dev, &props);
  d.name = props.name ? props.name : "";
  d.description = props.description ? props.description : "";
  d.backend = ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
  d.kind = kind_name(props.type);
  d.memory_free = props.memory_free;
  d.memory_total = props.memory_total;
  if (d.backend == "CUDA" && d.name.rfind("CUDA", 0) == 0) {
    int major = -1, minor = -1;
    if (cuda_compute_capability(std::atoi(d.name.c_str() + 4), major, minor)) {
      d.compute_major = major;
      d.compute_minor = minor;
    }
  }
  return d;
}

std::vector<DeviceInfo> list_devices() {
  cpu_device();  // loads the backend libraries once
  std::vector<DeviceInfo> out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) out.push_back(describe_device(ggml_backend_dev_get(i)));
  return out;
}

ggml_backend_dev_t device_by_name(const std::string& name) {
  cpu_device();
  if (ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str())) return dev;
  std::string present;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) present += std::string(present.empty() ? "" : ", ") + ggml_backend_dev_name(ggml_backend_dev_get(i));
  throw Error("ERR_NO_DEVICE", "no device named " + name + " in this process (present: " + present + ")");
}

// Whether something accepts TCP connections at host:port within a few seconds: ggml's RPC
// client aborts the process when it cannot connect, so an unreachable endpoint is refused first.
static std::string tcp_reachable(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) return "not of the form host:port";
  return platform::tcp_probe(endpoint.substr(0, colon), endpoint.substr(colon + 1), 3000);
}

std::vector<DeviceInfo> add_rpc_server(const std::string& endpoint) {
  cpu_device();
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  using add_t = ggml_backend_reg_t (*)(const char*);
  auto add = rpc ? reinterpret_cast<add_t>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server")) : nullptr;
  if (!add) throw Error("ERR_NO_BACKEND", "this build has no RPC backend; build the addon with POTRON_RPC=ON");
  const std::string why = tcp_reachable(endpoint);
  if (!why.empty()) throw Error("ERR_NO_DEVICE", "no RPC server at " + endpoint + ": " + why);
  static std::mutex mutex;
  static std::set<ggml_backend_reg_t> registered;
  std::lock_guard<std::mutex> lock(mutex);
  ggml_backend_reg_t reg = add(endpoint.c_str());
  if (!reg) throw Error("ERR_NO_DEVICE", "the RPC server at " + endpoint + " offers no device");
  if (registered.insert(reg).second) ggml_backend_register(reg);
  std::vector<DeviceInfo> out;
  for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) out.push_back(describe_device(ggml_backend_reg_dev_get(reg, i)));
  return out;
}

std::vector<DeviceInfo> load_backend_library(const std::string& path) {
  cpu_device();
#ifndef POTRON_BACKEND_DL
  throw Error("ERR_NO_BACKEND", "this addon was built from source with ggml inside it, so it cannot load " + path +
                                    "; build the backend into it instead (npm run build:cuda)");
#else
  // loaded first for the reason it fails (a missing CUDA runtime, say): ggml only logs it
  std::string why;
  void* probe = platform::open_library(path, why);
  if (!probe) throw Error("ERR_NO_BACKEND", "could not load the backend library " + path + ": " + why);
  ggml_backend_reg_t reg = ggml_backend_load(path.c_str());
  platform::close_library(probe);  // ggml holds its own handle now
  if (!reg) throw Error("ERR_NO_BACKEND", path + " is not a ggml backend library of this ggml version");
  std::vector<DeviceInfo> out;
  for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) out.push_back(describe_device(ggml_backend_reg_dev_get(reg, i)));
  return out;
#endif
}

}  // namespace potron

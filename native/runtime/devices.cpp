#include "devices.h"

#include <dlfcn.h>

#include <cstdlib>

#include "backend.h"
#include "errors.h"

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
  static void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return false;
  using init_t = int (*)(unsigned);
  using get_t = int (*)(int*, int);
  using attr_t = int (*)(int*, int, int);
  auto init = reinterpret_cast<init_t>(dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<get_t>(dlsym(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<attr_t>(dlsym(lib, "cuDeviceGetAttribute"));
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

}  // namespace potron

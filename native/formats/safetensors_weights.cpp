#include "safetensors_weights.h"

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "hf_json.h"
#include "mapped_file.h"
#include "platform.h"
#include "safetensors.h"

namespace potron {

std::optional<std::pair<uint32_t, std::string>> hf_layer_of(const std::string& n, const std::string& prefix, uint32_t n_layer,
                                                             const std::string& path) {
  if (n.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = n.substr(prefix.size());
  size_t i = 0;
  while (i < rest.size() && i < 6 && rest[i] >= '0' && rest[i] <= '9') ++i;
  if (i == 0 || i >= rest.size() || rest[i] != '.') return std::nullopt;
  const unsigned long layer = std::strtoul(rest.substr(0, i).c_str(), nullptr, 10);
  if (layer >= n_layer) {
    throw bad_file(path, "tensor '" + n + "' belongs to layer " + std::to_string(layer) + " but config.json has " +
                             std::to_string(n_layer) + " layers");
  }
  return std::make_pair(static_cast<uint32_t>(layer), rest.substr(i + 1));
}

namespace {

ggml_type ggml_type_of(const std::string& dtype) {
  if (dtype == "F32") return GGML_TYPE_F32;
  if (dtype == "F16") return GGML_TYPE_F16;
  if (dtype == "BF16") return GGML_TYPE_BF16;
  return GGML_TYPE_COUNT;
}

// The shard files the index lists, each once, in order of first mention. Names must be plain
// file names in the directory: a hostile index must not reach other files.
std::vector<std::string> shards_from_index(const std::string& index_path, std::map<std::string, std::string>& weight_map) {
  MappedFile f(index_path);
  if (f.size() > (64u << 20)) throw bad_file(index_path, "is implausibly large (" + std::to_string(f.size()) + " bytes)");
  const char* p = reinterpret_cast<const char*>(f.data());
  const json idx = parse_json(p, p + f.size(), index_path, "the index");
  if (!idx.is_object()) throw bad_file(index_path, "the index is not a JSON object");
  auto wm = idx.find("weight_map");
  if (wm == idx.end() || !wm->is_object() || wm->empty()) throw bad_file(index_path, "'weight_map' is missing or empty");
  std::vector<std::string> shards;
  std::set<std::string> seen;
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) throw bad_file(index_path, "'weight_map' entry '" + tensor + "' must name a file");
    const std::string name = file.get<std::string>();
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
      throw bad_file(index_path, "'weight_map' entry '" + tensor + "' names '" + name + "', which is not a file in the model directory");
    }
    weight_map[tensor] = name;
    if (seen.insert(name).second) shards.push_back(name);
  }
  return shards;
}

}  // namespace

void add_safetensors_weights(WeightSource& src, const std::string& dir, const std::string& model, const HfNameMap& map) {
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;
  const std::string index = dir + "/model.safetensors.index.json";
  if (platform::file_exists(index)) {
    shard_names = shards_from_index(index, weight_map);
  } else if (platform::file_exists(dir + "/model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else {
    throw bad_file(dir, "no weights: neither model.safetensors nor model.safetensors.index.json is there "
                        "(only safetensors checkpoints load; download them, or convert the model to GGUF)");
  }

  std::vector<SafetensorsFile> shards;
  shards.reserve(shard_names.size());
  for (const std::string& s : shard_names) {
    if (!weight_map.empty() && !platform::file_exists(dir + "/" + s)) {
      throw bad_file(index, "lists " + s + ", which is not in the directory (an incomplete download?)");
    }
    shards.emplace_back(dir + "/" + s);
  }
  for (size_t si = 0; si < shards.size(); ++si) {
    const SafetensorsFile& sf = shards[si];
    src.files.push_back(sf.file());
    for (const SafetensorsTensor& t : sf.tensors()) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != shard_names[si]) continue;  // the index decides
      }
      std::optional<MappedName> m = map(t.name, sf.path());
      if (!m) throw bad_file(sf.path(), "unexpected tensor '" + t.name + "' (not part of " + model + ")");
      if (m->name.empty()) continue;
      if (t.shape.empty() || t.shape.size() > 4) {
        throw bad_file(sf.path(), "tensor '" + t.name + "' has " + std::to_string(t.shape.size()) + " dimensions (1..4 expected)");
      }
      StoredTensor st{};
      st.name = m->name;
      st.file_name = t.name;
      st.file = sf.file().get();
      st.type = ggml_type_of(t.dtype);
      st.type_name = t.dtype;
      st.n_dims = static_cast<int>(t.shape.size());
      for (int d = 0; d < 4; ++d) st.ne[d] = 1;
      for (int d = 0; d < st.n_dims; ++d) st.ne[d] = t.shape[st.n_dims - 1 - d];  // row-major: last is contiguous
      st.data = t.data;
      st.nbytes = t.nbytes;
      st.add_one = m->norm;
      src.add(std::move(st));
    }
  }
  for (const auto& [tensor, file] : weight_map) {
    bool found = false;
    for (size_t si = 0; si < shards.size() && !found; ++si) found = shard_names[si] == file && shards[si].tensor(tensor);
    if (!found) throw bad_file(index, "'weight_map' puts '" + tensor + "' in " + file + ", which does not hold it");
  }
}

}  // namespace potron

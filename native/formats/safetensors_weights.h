// The weights of an HF model directory's safetensors (model.safetensors, or the shards that
// model.safetensors.index.json lists), under the runtime's tensor names: each family supplies the
// mapping from HF names.
#pragma once
#include <functional>
#include <optional>
#include <cstdint>
#include <string>
#include <utility>

#include "weight_source.h"

namespace potron {

struct MappedName {
  std::string name;   // runtime name; empty: not part of the model the runtime runs (skipped)
  bool norm = false;  // an RMSNorm weight, stored by HF without the +1
};

// hf_name, the shard's path -> the runtime name; nullopt: a tensor this family does not have.
using HfNameMap = std::function<std::optional<MappedName>(const std::string& hf_name, const std::string& shard)>;

// Adds every tensor of dir's safetensors to src (the index decides which shard holds what).
// `model` names the kind of model in the error for an unexpected tensor.
void add_safetensors_weights(WeightSource& src, const std::string& dir, const std::string& model, const HfNameMap& map);

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// "<prefix>N.rest" -> (N, rest) when a name has that prefix and a layer number; a layer past
// n_layer is an error naming the tensor (from the shard at `path`).
std::optional<std::pair<uint32_t, std::string>> hf_layer_of(const std::string& name, const std::string& prefix, uint32_t n_layer,
                                                             const std::string& path);

}  // namespace potron

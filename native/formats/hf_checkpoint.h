// An HF model directory as Google publishes it: config.json plus model.safetensors, or shards
// listed by model.safetensors.index.json. Tensors get the runtime's names; HF conventions that
// differ from what the graph expects (RMSNorm weights stored without the +1) are flagged on the
// tensor for the model to apply when it loads.
#pragma once
#include <string>

#include "hparams.h"
#include "st_pipeline.h"
#include "weight_source.h"

namespace potron {

struct HfCheckpoint {
  WeightSource source;        // format "hf"
  GemmaHParams hp;            // from config.json, n_vocab checked against the weights
  std::string dir;            // absolute
  std::string metadata_json;  // see HfConfig::metadata_json
  StPipeline st;              // an embedding model's pooling and Dense layers (modules.json)
};

HfCheckpoint load_hf_checkpoint(const std::string& dir);

// The HF name of a runtime tensor name (for messages about a missing tensor).
std::string hf_tensor_name(const std::string& runtime_name, bool gemma1);

}  // namespace potron

// An HF directory of a text encoder as sentence-transformers publishes it: config.json (model_type
// bert or nomic_bert), safetensors weights, and modules.json with the Pooling module's config.
// Read into the same hyper-parameters and tensor names as the GGUF that llama.cpp's converter
// would write from it, so both forms run the same graph.
#pragma once
#include <string>

#include "encoder_hparams.h"
#include "weight_source.h"

namespace potron {

struct HfEncoder {
  WeightSource source;        // format "hf"
  EncoderHParams hp;
  std::string dir;            // absolute
  std::string metadata_json;  // a GGUF-like record of what was read
};

HfEncoder load_hf_encoder(const std::string& dir);

}  // namespace potron

// The sentence-transformers pipeline of an HF model directory (modules.json): which pooling makes
// one vector of a text's token vectors, and the Dense layers applied to it after. Modules that
// change the vector and that the runtime does not run are refused, never skipped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "encoder_hparams.h"

namespace potron {

struct StDense {
  std::string dir;       // absolute: <model dir>/<module path>, holding model.safetensors
  uint32_t in_features;
  uint32_t out_features;
};

struct StPipeline {
  Pooling pooling = Pooling::Mean;  // mean when there is no modules.json (sentence-transformers' default)
  std::vector<StDense> dense;       // in pipeline order: bias-free, identity activation
};

// dense_allowed false: a Dense module is refused (the BERT family runs none).
StPipeline read_st_pipeline(const std::string& dir, bool dense_allowed);

}  // namespace potron

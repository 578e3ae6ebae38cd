// config.json of an HF Gemma checkpoint (model_type gemma, gemma2, gemma3_text, or gemma3 with
// the text model in text_config) read into the runtime's hyper-parameters, with the defaults
// transformers applies to absent fields (GemmaConfig, Gemma2Config, Gemma3TextConfig).
#pragma once
#include <string>

#include "hparams.h"

namespace potron {

struct HfConfig {
  GemmaHParams hp;              // n_vocab is config's vocab_size
  std::string model_type;       // as written at the top level ("gemma3" for the multimodal wrapper)
  bool multimodal = false;      // the text model is in text_config
  bool tie_word_embeddings = true;
  std::string metadata_json;    // a GGUF-like record of what was read (general.architecture, hparams)
};

// Reads and validates dir/config.json. Malformed or absurd fields give ERR_BAD_MODEL_FILE
// naming the field; a model the runtime cannot run gives ERR_UNSUPPORTED_ARCH / _MODEL.
HfConfig read_hf_config(const std::string& config_path, const std::string& dir);

}  // namespace potron

#include "st_pipeline.h"

#include <optional>

#include "json_fields.h"
#include "platform.h"
#include "safetensors_weights.h"

namespace potron {
namespace {

// A module's folder: a plain name inside the model directory.
std::string module_dir(const Fields& f) {
  const std::string path = f.str("path", "");
  if (path.empty() || path.size() > 255 || path.find('\0') != std::string::npos || path.find('/') != std::string::npos || path.find('\\') != std::string::npos || path.find("..") != std::string::npos) {
    throw f.bad("path", "must name a directory inside the model directory");
  }
  return path;
}

Pooling read_pooling(const std::string& dir, const std::string& module) {
  const std::string cfg_path = dir + "/" + module + "/config.json";
  const json cfg = read_json_file(cfg_path, module + "/config.json");
  if (!cfg.is_object()) throw bad_file(cfg_path, "the pooling config is not a JSON object");
  const Fields f(cfg, cfg_path, "", module + "/config.json");
  std::optional<Pooling> chosen;
  auto pick = [&](const char* key, std::optional<Pooling> as) {
    if (!f.boolean(key, false)) return;
    if (!as) throw Error("ERR_UNSUPPORTED_MODEL", cfg_path + ": pooling '" + std::string(key) + "' is not supported (cls, mean and last token are)");
    if (chosen) throw Error("ERR_UNSUPPORTED_MODEL", cfg_path + ": several pooling modes at once are not supported");
    chosen = as;
  };
  pick("pooling_mode_cls_token", Pooling::Cls);
  pick("pooling_mode_mean_tokens", Pooling::Mean);
  pick("pooling_mode_lasttoken", Pooling::Last);
  pick("pooling_mode_max_tokens", std::nullopt);
  pick("pooling_mode_mean_sqrt_len_tokens", std::nullopt);
  pick("pooling_mode_weightedmean_tokens", std::nullopt);
  if (!chosen) throw bad_file(cfg_path, "names no pooling mode");
  return *chosen;
}

// A Dense module as EmbeddingGemma's: a linear map without bias or activation (what llama.cpp's
// converter carries over as dense_2 / dense_3).
StDense read_dense(const std::string& dir, const std::string& module) {
  const std::string cfg_path = dir + "/" + module + "/config.json";
  const json cfg = read_json_file(cfg_path, module + "/config.json");
  if (!cfg.is_object()) throw bad_file(cfg_path, "the Dense config is not a JSON object");
  const Fields f(cfg, cfg_path, "", module + "/config.json");
  StDense d{dir + "/" + module, f.u32("in_features", std::nullopt, 1, 1u << 20), f.u32("out_features", std::nullopt, 1, 1u << 20)};
  const std::string act = f.str("activation_function", "torch.nn.modules.activation.Tanh");
  if (act != "torch.nn.modules.linear.Identity") {
    throw Error("ERR_UNSUPPORTED_MODEL", cfg_path + ": Dense activation '" + act.substr(0, 64) + "' is not supported (only Identity is)");
  }
  if (f.boolean("bias", true)) throw Error("ERR_UNSUPPORTED_MODEL", cfg_path + ": a Dense layer with a bias is not supported");
  return d;
}

}  // namespace

StPipeline read_st_pipeline(const std::string& dir, bool dense_allowed) {
  StPipeline out;
  const std::string modules_path = dir + "/modules.json";
  if (!platform::file_exists(modules_path)) return out;
  const json modules = read_json_file(modules_path, "modules.json");
  if (!modules.is_array()) throw bad_file(modules_path, "modules.json is not a list of modules");
  // the modules first (what is refused is refused before any module's files are read)
  std::optional<std::string> pooling_dir;
  std::vector<std::string> dense_dirs;
  for (size_t i = 0; i < modules.size(); ++i) {
    const json& m = modules[i];
    if (!m.is_object()) throw bad_file(modules_path, "module " + std::to_string(i) + " is " + describe(m) + ", not an object");
    const Fields f(m, modules_path, "[" + std::to_string(i) + "].", "modules.json");
    const std::string type = f.str("type", "");
    const std::string kind = type.substr(type.find_last_of('.') + 1);
    if (kind == "Transformer" || kind == "Normalize") continue;  // the encoder itself; vectors are always normalized
    if (kind == "Pooling" && !pooling_dir && dense_dirs.empty()) {
      pooling_dir = module_dir(f);
      continue;
    }
    if (kind == "Dense" && !dense_allowed) {
      throw Error("ERR_UNSUPPORTED_MODEL", dir + ": its sentence-transformers pipeline has a Dense module, which the runtime runs "
                                               "for EmbeddingGemma only (it would change the vectors)");
    }
    if (kind == "Dense" && pooling_dir) {
      dense_dirs.push_back(module_dir(f));
      continue;
    }
    throw Error("ERR_UNSUPPORTED_MODEL", dir + ": its sentence-transformers pipeline has a " + kind.substr(0, 64) +
                                             " module where the runtime does not run one (it would change the vectors)");
  }
  if (pooling_dir) out.pooling = read_pooling(dir, *pooling_dir);
  for (const std::string& d : dense_dirs) out.dense.push_back(read_dense(dir, d));
  for (size_t i = 1; i < out.dense.size(); ++i) {
    if (out.dense[i].in_features != out.dense[i - 1].out_features) {
      throw bad_file(out.dense[i].dir, "Dense in_features " + std::to_string(out.dense[i].in_features) + " does not follow the previous layer's " +
                                           std::to_string(out.dense[i - 1].out_features) + " out_features");
    }
  }
  return out;
}

}  // namespace potron

// potron-logits-check MODEL DEVICE [--gpu-layers N] [--tokens N] [--tol X] [--kv f16|f32] [--fa]
//                     [--dtype auto|f32|f16|bf16] [--rpc HOST:PORT]
// The same tokens through the model on the CPU and on DEVICE (ggml's name: CUDA0, MTL0, RPC0),
// compared position by position as log-probabilities: the GPU check that needs no Node.js (the
// lent GPU machines have none). Prints one JSON line; exits 1 when the largest difference is over
// the tolerance or an argmax differs, 2 on bad arguments.
// Tolerances to use: F32 weights 1e-3 (as against llama.cpp); F16 and BF16 weights, where the
// GPU multiplies in that type and the CPU in F32 after rounding the activations, up to 5e-2 on
// the tiny random models (their logits are chaotic); state the one used with the result.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "devices.h"
#include "errors.h"
#include "model.h"

using potron::Batch;

static std::vector<std::vector<double>> logprobs(const std::string& path, const potron::ModelOptions& mo, const potron::ContextParams& cp,
                                                 const std::vector<int32_t>& tokens) {
  auto model = std::make_shared<potron::Model>(path, mo);
  potron::Context ctx(model, cp);
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i]);
    b.pos.push_back(static_cast<int32_t>(i));
    b.seq.push_back(0);
    b.output.push_back(1);
  }
  potron::Logits l = ctx.decode(b);
  const size_t V = model->hp().n_vocab;
  std::vector<std::vector<double>> out(tokens.size(), std::vector<double>(V));
  for (size_t r = 0; r < tokens.size(); ++r) {
    const float* row = l.rows() + r * V;
    double mx = -INFINITY, sum = 0;
    for (size_t j = 0; j < V; ++j) mx = std::fmax(mx, row[j]);
    for (size_t j = 0; j < V; ++j) sum += std::exp(row[j] - mx);
    for (size_t j = 0; j < V; ++j) out[r][j] = row[j] - mx - std::log(sum);
  }
  return out;
}

// s as a JSON string (Windows paths hold backslashes)
static std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: potron-logits-check MODEL DEVICE [--gpu-layers N] [--tokens N] [--tol X] [--kv f16|f32] [--fa] "
                         "[--dtype auto|f32|f16|bf16] [--rpc HOST:PORT]\n");
    return 2;
  }
  const std::string path = argv[1], device = argv[2];
  int gpu_layers = -1, n_tokens = 48;
  double tol = 1e-3;
  potron::ContextParams cp;
  cp.n_seq_max = 1;
  cp.kv_type = GGML_TYPE_F32;
  cp.flash_attn = false;
  potron::ModelOptions dev_opts;
  std::string rpc;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--gpu-layers") gpu_layers = std::atoi(next().c_str());
    else if (a == "--tokens") n_tokens = std::atoi(next().c_str());
    else if (a == "--tol") tol = std::atof(next().c_str());
    else if (a == "--kv") cp.kv_type = next() == "f16" ? GGML_TYPE_F16 : GGML_TYPE_F32;
    else if (a == "--fa") cp.flash_attn = true;
    else if (a == "--rpc") rpc = next();
    else if (a == "--dtype") {
      const std::string d = next();
      dev_opts.dtype = d == "f32" ? potron::WeightDtype::F32 : d == "f16" ? potron::WeightDtype::F16 : d == "bf16" ? potron::WeightDtype::BF16 : potron::WeightDtype::Auto;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (!rpc.empty()) potron::add_rpc_server(rpc);
    potron::ModelOptions cpu_opts;
    cpu_opts.dtype = dev_opts.dtype;
    cpu_opts.repack = false;  // the plain kernels, as a GPU's layers have no AMX layout
    dev_opts.device = device;
    dev_opts.gpu_layers = gpu_layers;
    dev_opts.repack = false;
    uint32_t V;
    {
      potron::Model probe(path, cpu_opts);
      V = probe.hp().n_vocab;
    }
    std::vector<int32_t> tokens{2};  // <bos>, then spread over the vocabulary (as test/helpers testTokens)
    for (int i = 1; i < n_tokens; ++i) tokens.push_back(static_cast<int32_t>(6 + (i * 37) % (V - 6)));
    cp.n_ctx = static_cast<uint32_t>(n_tokens);
    const auto a = logprobs(path, cpu_opts, cp, tokens);
    const auto b = logprobs(path, dev_opts, cp, tokens);
    double worst = 0;
    int argmax_diff = 0;
    for (size_t r = 0; r < a.size(); ++r) {
      size_t ia = 0, ib = 0;
      for (size_t j = 0; j < V; ++j) {
        worst = std::fmax(worst, std::fabs(a[r][j] - b[r][j]));
        if (a[r][j] > a[r][ia]) ia = j;
        if (b[r][j] > b[r][ib]) ib = j;
      }
      argmax_diff += ia != ib;
    }
    const bool ok = worst <= tol && argmax_diff == 0;
    std::printf("{\"model\":%s,\"device\":%s,\"gpu_layers\":%d,\"tokens\":%d,\"max_abs_dlogprob\":%.3e,\"argmax_differs\":%d,\"tol\":%.1e,\"ok\":%s}\n",
                json_string(path).c_str(), json_string(device).c_str(), gpu_layers, n_tokens, worst, argmax_diff, tol, ok ? "true" : "false");
    return ok ? 0 : 1;
  } catch (const potron::Error& e) {
    std::fprintf(stderr, "potron-logits-check: %s: %s\n", e.code.c_str(), e.what());
    return 2;
  }
}

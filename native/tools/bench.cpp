// potron-bench MODEL.gguf [threads] [n_prompt] [n_gen] [reps] [depth] [device] [gpu_layers]
// The runtime's prefill and decode rates without Node.js, measured like `predict-otron bench`
// and llama-bench: pp = one prompt, tg = single-token steps, each after `depth` tokens already
// in the cache (llama-bench -d; 0: from empty). The context is as llama-bench's: one sequence,
// depth + n_prompt + n_gen cells (sliding-window layers in their ring). device: ggml's name
// (CUDA0, MTL0; default the CPU), gpu_layers as llama-bench's -ngl (default all).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "backend.h"
#include "context.h"
#include "errors.h"
#include "model.h"

using potron::Batch;

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: potron-bench MODEL.gguf [threads] [n_prompt=512] [n_gen=128] [reps=3] [depth=0] [device=CPU] [gpu_layers=-1]\n");
    return 2;
  }
  const int threads = argc > 2 ? std::atoi(argv[2]) : potron::physical_cores();
  const int n_prompt = argc > 3 ? std::atoi(argv[3]) : 512;
  const int n_gen = argc > 4 ? std::atoi(argv[4]) : 128;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
  const int depth = argc > 6 ? std::atoi(argv[6]) : 0;
  potron::ModelOptions mo;
  if (argc > 7) mo.device = argv[7];
  if (argc > 8) mo.gpu_layers = std::atoi(argv[8]);
  try {
    auto model = std::make_shared<potron::Model>(argv[1], mo);
    potron::ContextParams p;
    p.n_ctx = depth + n_prompt + n_gen;
    p.n_seq_max = 1;
    p.n_threads = threads;
    potron::Context ctx(model, p);
    const uint32_t V = model->hp().n_vocab;
    auto tokens = [&](int n, uint32_t seed, int start = 0) {
      Batch b;
      for (int i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        b.tokens.push_back(static_cast<int32_t>(seed % V));
        b.pos.push_back(start + i);
        b.seq.push_back(0);
        b.output.push_back(i == n - 1);
      }
      return b;
    };
    const Batch prompt = tokens(n_prompt, 42, depth), gen = tokens(n_gen, 7), fill = tokens(depth, 3);
    ctx.decode(tokens(32, 1));  // warm-up
    auto refill = [&] {  // the cache as the measured part finds it: `depth` tokens of one sequence
      ctx.clear();
      if (depth > 0) ctx.decode(fill);
    };
    double pp = 0, tg = 0;
    for (int r = 0; r < reps && n_prompt > 0; ++r) {  // n_prompt 0: decode only, as llama-bench -p 0
      refill();
      auto t0 = std::chrono::steady_clock::now();
      ctx.decode(prompt);
      pp += n_prompt / seconds_since(t0);
    }
    for (int r = 0; r < reps; ++r) {
      refill();
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n_gen; ++i) {
        Batch one;
        one.tokens = {gen.tokens[i]};
        one.pos = {depth + i};
        one.seq = {0};
        one.output = {1};
        ctx.decode(one);
      }
      tg += n_gen / seconds_since(t0);
    }
    std::printf("{\"prefill_tokens_per_s\":%.2f,\"decode_tokens_per_s\":%.2f,\"threads\":%d,\"depth\":%d,\"kv_bytes\":%zu,\"device\":\"%s\"}\n",
                pp / reps, tg / reps, threads, depth, ctx.kv().bytes(), model->device().name.c_str());
  } catch (const potron::Error& e) {
    std::fprintf(stderr, "potron-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

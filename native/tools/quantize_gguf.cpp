// potron-quantize IN.gguf OUT.gguf TYPE
// Quantizes the 2-D weights of an F32 GGUF with ggml's own quantizer (ggml_quantize_chunk, the
// code llama-quantize uses), keeping metadata and 1-D tensors as they are. Used by
// scripts/make-tiny-gemma for the types gguf-py cannot write (K-quants).
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

static std::string lower(const char* s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: potron-quantize IN.gguf OUT.gguf q4_k|q5_k|q6_k|q4_0|q8_0\n");
    return 2;
  }
  ggml_type type = GGML_TYPE_COUNT;
  const std::string wanted = lower(argv[3]);
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* name = ggml_type_name(static_cast<ggml_type>(t));
    if (name && lower(name) == wanted) type = static_cast<ggml_type>(t);
  }
  if (type == GGML_TYPE_COUNT || ggml_quantize_requires_imatrix(type)) {
    std::fprintf(stderr, "potron-quantize: unsupported type '%s'\n", argv[3]);
    return 2;
  }
  ggml_context* data_ctx = nullptr;
  gguf_init_params params{/*no_alloc=*/false, &data_ctx};
  gguf_context* in = gguf_init_from_file(argv[1], params);
  if (!in) {
    std::fprintf(stderr, "potron-quantize: cannot read %s\n", argv[1]);
    return 1;
  }
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, in);
  std::vector<std::vector<uint8_t>> buffers;
  const int64_t n = gguf_get_n_tensors(in);
  buffers.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    ggml_tensor* t = ggml_get_tensor(data_ctx, gguf_get_tensor_name(in, i));
    gguf_add_tensor(out, t);
    if (ggml_n_dims(t) < 2 || t->type != GGML_TYPE_F32) continue;
    if (t->ne[0] % ggml_blck_size(type) != 0) {
      std::fprintf(stderr, "potron-quantize: %s rows of %lld do not fit %s blocks\n", t->name, (long long)t->ne[0], argv[3]);
      return 1;
    }
    const int64_t rows = ggml_nrows(t);
    buffers.emplace_back(ggml_row_size(type, t->ne[0]) * rows);
    ggml_quantize_chunk(type, static_cast<const float*>(t->data), buffers.back().data(), 0, rows, t->ne[0], nullptr);
    gguf_set_tensor_type(out, t->name, type);
    gguf_set_tensor_data(out, t->name, buffers.back().data());
  }
  if (!gguf_write_to_file(out, argv[2], false)) {
    std::fprintf(stderr, "potron-quantize: cannot write %s\n", argv[2]);
    return 1;
  }
  gguf_free(out);
  gguf_free(in);
  ggml_free(data_ctx);
  return 0;
}

#include "encoder_graph.h"

#include <cmath>

#include "gemma_graph.h"

namespace potron {
namespace {

// LayerNorm with its affine weight and bias
ggml_tensor* layer_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, ggml_tensor* b, float eps) {
  return ggml_add(ctx, ggml_mul(ctx, ggml_norm(ctx, x, eps), w), b);
}

ggml_tensor* linear(ggml_context* ctx, ggml_tensor* w, ggml_tensor* b, ggml_tensor* x) {
  ggml_tensor* y = ggml_mul_mat(ctx, w, x);
  return b ? ggml_add(ctx, y, b) : y;
}

// Bidirectional attention within each sequence of the ubatch.
//   q, k, v: [D, H, T]   returns [D*H, T]
ggml_tensor* attention(ggml_context* ctx, const EncoderHParams& hp, const EncoderGraphShape& s, ggml_tensor* q,
                       ggml_tensor* k, ggml_tensor* v, ggml_tensor* mask) {
  const int64_t D = hp.head_dim(), H = hp.n_head, T = s.n_tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  q = ggml_permute(ctx, q, 0, 2, 1, 3);  // [D, T, H]
  k = ggml_permute(ctx, k, 0, 2, 1, 3);  // [D, T, H]
  v = ggml_permute(ctx, v, 0, 2, 1, 3);  // [D, T, H]
  if (s.flash_attn) {
    // as llama.cpp: keys and values of the batch itself are cast to F16 for the kernel
    k = ggml_cast(ctx, k, GGML_TYPE_F16);
    v = ggml_cast(ctx, v, GGML_TYPE_F16);
    ggml_tensor* out = ggml_flash_attn_ext(ctx, q, k, v, mask, scale, 0.0f, 0.0f);  // [D, H, T]
    ggml_flash_attn_ext_set_prec(out, GGML_PREC_F32);
    return ggml_reshape_2d(ctx, out, D * H, T);
  }
  ggml_tensor* kq = ggml_mul_mat(ctx, k, q);  // [T(keys), T, H]
  ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
  kq = ggml_soft_max_ext(ctx, kq, mask, scale, 0.0f);
  ggml_tensor* vt = ggml_cont(ctx, ggml_transpose(ctx, v));  // [T(keys), D, H]
  ggml_tensor* kqv = ggml_mul_mat(ctx, vt, kq);              // [D, T, H]
  kqv = ggml_permute(ctx, kqv, 0, 2, 1, 3);                  // [D, H, T]
  return ggml_cont_2d(ctx, kqv, D * H, T);
}

// The BERT family's transformer (post-norm, LayerNorm).  returns the last hidden states [E, T]
ggml_tensor* bert_body(ggml_context* ctx, const EncoderModel& model, const EncoderGraphShape& s, EncoderGraphInputs& in) {
  const EncoderHParams& hp = model.hp();
  const int64_t E = hp.n_embd, D = hp.head_dim(), H = hp.n_head, T = s.n_tokens;

  in.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  in.types = s.token_types && model.type_embd ? ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T) : nullptr;
  in.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  in.mask = ggml_new_tensor_2d(ctx, s.flash_attn ? GGML_TYPE_F16 : GGML_TYPE_F32, T, T);
  for (ggml_tensor* t : {in.tokens, in.types, in.pos, in.mask}) {
    if (t) ggml_set_input(t);
  }

  // token + token type + learned position embeddings. Embedding inputs are all type 0
  // ("sentence A"); a reranker's document half is type 1, as transformers gives it (llama.cpp
  // adds row 0 for every token).
  ggml_tensor* x = ggml_get_rows(ctx, model.tok_embd, in.tokens);  // [E, T]
  if (in.types) x = ggml_add(ctx, x, ggml_get_rows(ctx, model.type_embd, in.types));
  else if (model.type_embd) x = ggml_add(ctx, x, ggml_view_1d(ctx, model.type_embd, E, 0));
  if (model.pos_embd) x = ggml_add(ctx, ggml_get_rows(ctx, model.pos_embd, in.pos), x);
  x = layer_norm(ctx, x, model.embd_norm, model.embd_norm_b, hp.norm_eps);

  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    const EncoderLayer& L = model.layers[il];
    ggml_tensor *q, *k, *v;
    if (L.wqkv) {
      ggml_tensor* qkv = linear(ctx, L.wqkv, L.bqkv, x);  // [3E, T]
      const size_t row = ggml_row_size(qkv->type, D);
      q = ggml_view_3d(ctx, qkv, D, H, T, row, qkv->nb[1], 0);
      k = ggml_view_3d(ctx, qkv, D, H, T, row, qkv->nb[1], ggml_row_size(qkv->type, E));
      v = ggml_view_3d(ctx, qkv, D, H, T, row, qkv->nb[1], ggml_row_size(qkv->type, 2 * E));
    } else {
      q = ggml_reshape_3d(ctx, linear(ctx, L.wq, L.bq, x), D, H, T);
      k = ggml_reshape_3d(ctx, linear(ctx, L.wk, L.bk, x), D, H, T);
      v = ggml_reshape_3d(ctx, linear(ctx, L.wv, L.bv, x), D, H, T);
    }
    if (hp.rope) {
      q = ggml_rope_ext(ctx, q, in.pos, nullptr, D, GGML_ROPE_TYPE_NEOX, hp.n_ctx_train, hp.rope_base, 1.0f, 0.0f, 1.0f,
                        32.0f, 1.0f);
      k = ggml_rope_ext(ctx, k, in.pos, nullptr, D, GGML_ROPE_TYPE_NEOX, hp.n_ctx_train, hp.rope_base, 1.0f, 0.0f, 1.0f,
                        32.0f, 1.0f);
    }
    ggml_tensor* attn = linear(ctx, L.wo, L.bo, attention(ctx, hp, s, q, k, v, in.mask));  // [E, T]

    // post-norm: residual, then LayerNorm, after attention and after the feed-forward
    x = layer_norm(ctx, ggml_add(ctx, attn, x), L.attn_out_norm, L.attn_out_norm_b, hp.norm_eps);
    ggml_tensor* ff;
    if (hp.swiglu) {
      ff = ggml_swiglu_split(ctx, ggml_mul_mat(ctx, L.ffn_gate, x), linear(ctx, L.ffn_up, L.ffn_up_b, x));
    } else {
      ff = ggml_gelu(ctx, linear(ctx, L.ffn_up, L.ffn_up_b, x));
    }
    ff = linear(ctx, L.ffn_down, L.ffn_down_b, ff);
    x = layer_norm(ctx, ggml_add(ctx, ff, x), L.layer_out_norm, L.layer_out_norm_b, hp.norm_eps);
  }
  return x;
}

}  // namespace

ggml_tensor* build_encoder_graph(ggml_context* ctx, const EncoderModel& model, const EncoderGraphShape& s,
                                 EncoderGraphInputs& in) {
  const EncoderHParams& hp = model.hp();
  const int64_t T = s.n_tokens;
  const Model* gemma = model.gemma();
  ggml_tensor* x;  // [E, T]
  if (gemma) {
    GemmaEncoderInputs g{};
    x = build_gemma_encoder_graph(ctx, *gemma, s.n_tokens, s.flash_attn, g);
    in.tokens = g.tokens;
    in.pos = g.pos;
    in.mask = g.mask;
    in.mask_swa = g.mask_swa;
  } else {
    x = bert_body(ctx, model, s, in);
  }

  in.mean = hp.pooling == Pooling::Mean ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, T, s.n_seqs) : nullptr;
  in.rows = hp.pooling == Pooling::Mean ? nullptr : ggml_new_tensor_1d(ctx, GGML_TYPE_I32, s.n_seqs);
  ggml_set_input(in.mean ? in.mean : in.rows);
  ggml_tensor* pooled;
  if (in.mean) {
    pooled = ggml_mul_mat(ctx, ggml_cont(ctx, ggml_transpose(ctx, x)), in.mean);  // [E, S]
  } else {
    pooled = ggml_get_rows(ctx, x, in.rows);  // [E, S]
  }
  if (hp.pooling == Pooling::Rank) {
    // BERT's pooler then the classifier, as transformers' sequence classification
    if (model.cls) pooled = ggml_tanh(ctx, linear(ctx, model.cls, model.cls_b, pooled));
    pooled = linear(ctx, model.cls_out, model.cls_out_b, pooled);  // [n_cls_out, S]
  }
  // EmbeddingGemma's projections, E -> F -> E, no activation
  if (gemma && gemma->dense_2) pooled = ggml_mul_mat(ctx, gemma->dense_2, pooled);
  if (gemma && gemma->dense_3) pooled = ggml_mul_mat(ctx, gemma->dense_3, pooled);
  ggml_set_output(pooled);
  return pooled;
}

}  // namespace potron

#include "gemma_graph.h"

#include <cmath>
#include <utility>

namespace potron {
namespace {

// RMSNorm; the GGUF converter already stored Gemma's (1 + w) as the weight.
ggml_tensor* rms_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* w, float eps) {
  return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), w);
}

// softcap * tanh(x / softcap)
ggml_tensor* soft_cap(ggml_context* ctx, ggml_tensor* x, float cap) {
  return ggml_scale(ctx, ggml_tanh(ctx, ggml_scale(ctx, x, 1.0f / cap)), cap);
}

// Scaled dot-product attention of this ubatch's queries over n_kv keys/values: the cache's
// cells [0, n_kv) when decoding, the ubatch's own tokens when encoding. The mask hides other
// sequences, positions the model must not see and, on sliding-window layers, those outside the window.
//   q: [D, H, T]   k, v: [D, HKV, n_kv]   returns [D*H, T]
ggml_tensor* attention(ggml_context* ctx, const GemmaHParams& hp, bool flash_attn, ggml_tensor* q, ggml_tensor* k,
                       ggml_tensor* v, ggml_tensor* mask) {
  const int64_t D = hp.head_dim, H = hp.n_head, T = q->ne[2];
  q = ggml_permute(ctx, q, 0, 2, 1, 3);  // [D, T, H]
  k = ggml_permute(ctx, k, 0, 2, 1, 3);  // [D, n_kv, HKV]
  v = ggml_permute(ctx, v, 0, 2, 1, 3);  // [D, n_kv, HKV]

  if (flash_attn) {
    if (k->type == GGML_TYPE_F32) k = ggml_cast(ctx, k, GGML_TYPE_F16);
    if (v->type == GGML_TYPE_F32) v = ggml_cast(ctx, v, GGML_TYPE_F16);
    ggml_tensor* out = ggml_flash_attn_ext(ctx, q, k, v, mask, 1.0f, 0.0f, hp.attn_softcap);  // [D, H, T]
    ggml_flash_attn_ext_set_prec(out, GGML_PREC_F32);
    return ggml_reshape_2d(ctx, out, D * H, T);
  }
  ggml_tensor* kq = ggml_mul_mat(ctx, k, q);  // [n_kv, T, H]
  ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
  if (hp.attn_softcap > 0) kq = soft_cap(ctx, kq, hp.attn_softcap);
  kq = ggml_soft_max_ext(ctx, kq, mask, 1.0f, 0.0f);
  ggml_tensor* vt = ggml_cont(ctx, ggml_transpose(ctx, v));  // [n_kv, D, HKV]
  ggml_tensor* kqv = ggml_mul_mat(ctx, vt, kq);              // [D, T, H]
  kqv = ggml_permute(ctx, kqv, 0, 2, 1, 3);                  // [D, H, T]
  return ggml_cont_2d(ctx, kqv, D * H, T);
}

// Where a layer's keys and values live: the KV cache (decoding: this ubatch's go into cells
// first), or nowhere (encoding: attention reads the ubatch's own).
struct KvPlace {
  ggml_cgraph* gf;
  const KvCache* kv;        // null: no cache
  ggml_tensor* kv_cells;    // I64 [T]  cells in the global pool
  uint32_t n_kv;
  ggml_tensor* kv_cells_swa;  // I64 [T]  cells in the sliding-window pool (null: one pool)
  uint32_t n_kv_swa;
};

// The transformer: embeddings, the layers, the final norm. out_ids (null: every row) picks the
// rows that go on after the last layer's attention.  returns [E, n_outputs]
ggml_tensor* gemma_body(ggml_context* ctx, const Model& model, const KvPlace& place, ggml_tensor* tokens, ggml_tensor* pos,
                        ggml_tensor* mask, ggml_tensor* mask_swa, ggml_tensor* out_ids, bool flash_attn) {
  const GemmaHParams& hp = model.hp();
  const int64_t D = hp.head_dim, H = hp.n_head, HKV = hp.n_head_kv, T = tokens->ne[0];

  // token embeddings, scaled by sqrt(hidden)
  ggml_tensor* x = ggml_get_rows(ctx, model.tok_embd, tokens);  // [E, T]
  x = ggml_scale(ctx, x, hp.embd_scale);

  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    const GemmaLayer& L = model.layers[il];
    const bool swa = hp.layer_is_swa[il];

    // self-attention
    ggml_tensor* h = rms_norm(ctx, x, L.attn_norm, hp.rms_eps);
    ggml_tensor* q = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, L.wq, h), D, H, T);
    ggml_tensor* k = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, L.wk, h), D, HKV, T);
    ggml_tensor* v = ggml_mul_mat(ctx, L.wv, h);  // [D*HKV, T]
    if (hp.has_qk_norm) {
      q = rms_norm(ctx, q, L.q_norm, hp.rms_eps);
      k = rms_norm(ctx, k, L.k_norm, hp.rms_eps);
    }
    const float base = swa ? hp.rope_base_swa : hp.rope_base;
    const float freq_scale = swa ? hp.rope_freq_scale_swa : hp.rope_freq_scale;
    q = ggml_rope_ext(ctx, q, pos, nullptr, D, GGML_ROPE_TYPE_NEOX, hp.n_ctx_train, base, freq_scale, 0.0f, 1.0f,
                      32.0f, 1.0f);
    k = ggml_rope_ext(ctx, k, pos, nullptr, D, GGML_ROPE_TYPE_NEOX, hp.n_ctx_train, base, freq_scale, 0.0f, 1.0f,
                      32.0f, 1.0f);
    q = ggml_scale(ctx, q, 1.0f / std::sqrt(hp.query_pre_attn_scalar));

    ggml_tensor *keys, *values;  // [D, HKV, n_kv]
    if (place.kv) {
      // this ubatch's keys and values go into their cache cells before attention reads them
      // (a sliding layer's pool is the ring when there is one: its own cells, its own n_kv)
      const KvPool& pool = place.kv->pool(il);
      const bool ring = place.kv_cells_swa && &pool != &place.kv->global();
      ggml_tensor* cells = ring ? place.kv_cells_swa : place.kv_cells;
      const int64_t n_kv = ring ? place.n_kv_swa : place.n_kv;
      ggml_tensor *kc = pool.k(il), *vc = pool.v(il);
      ggml_build_forward_expand(place.gf, ggml_set_rows(ctx, kc, ggml_reshape_2d(ctx, k, D * HKV, T), cells));
      ggml_build_forward_expand(place.gf, ggml_set_rows(ctx, vc, v, cells));
      keys = ggml_view_3d(ctx, kc, D, HKV, n_kv, ggml_row_size(kc->type, D), ggml_row_size(kc->type, D * HKV), 0);
      values = ggml_view_3d(ctx, vc, D, HKV, n_kv, ggml_row_size(vc->type, D), ggml_row_size(vc->type, D * HKV), 0);
    } else {
      keys = k;
      values = ggml_reshape_3d(ctx, v, D, HKV, T);
    }
    ggml_tensor* attn = attention(ctx, hp, flash_attn, q, keys, values, swa ? mask_swa : mask);
    attn = ggml_mul_mat(ctx, L.wo, attn);  // [E, T]

    if (il == hp.n_layer - 1 && out_ids) {
      // only the rows whose outputs are wanted go on from here
      attn = ggml_get_rows(ctx, attn, out_ids);
      x = ggml_get_rows(ctx, x, out_ids);
    }
    if (hp.has_post_norms) attn = rms_norm(ctx, attn, L.post_attn_norm, hp.rms_eps);
    x = ggml_add(ctx, attn, x);

    // GeGLU feed-forward
    h = rms_norm(ctx, x, L.ffn_norm, hp.rms_eps);
    ggml_tensor* ff = ggml_geglu_split(ctx, ggml_mul_mat(ctx, L.ffn_gate, h), ggml_mul_mat(ctx, L.ffn_up, h));
    ff = ggml_mul_mat(ctx, L.ffn_down, ff);
    if (hp.has_post_norms) ff = rms_norm(ctx, ff, L.post_ffw_norm, hp.rms_eps);
    x = ggml_add(ctx, ff, x);
  }
  return rms_norm(ctx, x, model.output_norm, hp.rms_eps);
}

// Whether the model has global and sliding-window layers: an unused mask input would be left unallocated.
std::pair<bool, bool> layer_kinds(const GemmaHParams& hp) {
  bool any_global = false, any_swa = false;
  for (uint32_t il = 0; il < hp.n_layer; ++il) (hp.layer_is_swa[il] ? any_swa : any_global) = true;
  return {any_global, any_swa};
}

}  // namespace

ggml_tensor* build_gemma_graph(ggml_context* ctx, ggml_cgraph* gf, const Model& model, const KvCache& kv,
                               const GemmaGraphShape& s, GemmaGraphInputs& in) {
  const GemmaHParams& hp = model.hp();
  const int64_t T = s.n_tokens;
  const ggml_type mask_type = s.flash_attn ? GGML_TYPE_F16 : GGML_TYPE_F32;
  const auto [any_global, any_swa] = layer_kinds(hp);

  in.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  in.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
  in.kv_cells = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, T);
  in.kv_cells_swa = kv.swa() ? ggml_new_tensor_1d(ctx, GGML_TYPE_I64, T) : nullptr;
  in.mask = any_global ? ggml_new_tensor_2d(ctx, mask_type, s.n_kv, T) : nullptr;
  in.mask_swa = any_swa ? ggml_new_tensor_2d(ctx, mask_type, s.n_kv_swa, T) : nullptr;
  in.out_ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, s.n_outputs);
  for (ggml_tensor* t : {in.tokens, in.pos, in.kv_cells, in.kv_cells_swa, in.mask, in.mask_swa, in.out_ids}) {
    if (t) ggml_set_input(t);
  }

  const KvPlace place{gf, &kv, in.kv_cells, s.n_kv, in.kv_cells_swa, s.n_kv_swa};
  ggml_tensor* x = gemma_body(ctx, model, place, in.tokens, in.pos, in.mask, in.mask_swa, in.out_ids, s.flash_attn);
  ggml_tensor* logits = ggml_mul_mat(ctx, model.output, x);  // [V, n_outputs]
  if (hp.final_softcap > 0) logits = soft_cap(ctx, logits, hp.final_softcap);
  ggml_set_output(logits);
  ggml_build_forward_expand(gf, logits);
  return logits;
}

ggml_tensor* build_gemma_encoder_graph(ggml_context* ctx, const Model& model, uint32_t n_tokens, bool flash_attn,
                                       GemmaEncoderInputs& in) {
  const GemmaHParams& hp = model.hp();
  const ggml_type mask_type = flash_attn ? GGML_TYPE_F16 : GGML_TYPE_F32;
  const auto [any_global, any_swa] = layer_kinds(hp);
  in.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
  in.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
  in.mask = any_global ? ggml_new_tensor_2d(ctx, mask_type, n_tokens, n_tokens) : nullptr;
  in.mask_swa = any_swa ? ggml_new_tensor_2d(ctx, mask_type, n_tokens, n_tokens) : nullptr;
  for (ggml_tensor* t : {in.tokens, in.pos, in.mask, in.mask_swa}) {
    if (t) ggml_set_input(t);
  }
  return gemma_body(ctx, model, KvPlace{nullptr, nullptr, nullptr, n_tokens, nullptr, n_tokens}, in.tokens, in.pos, in.mask, in.mask_swa, nullptr, flash_attn);
}

}  // namespace potron

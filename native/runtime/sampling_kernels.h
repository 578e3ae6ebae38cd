// Per-token kernels of the sampler that scan the whole vocabulary (262,144 entries for Gemma 3).
// The sampling policy stays in TypeScript (src/sampling/); these only do the O(vocab) loops,
// which cost several milliseconds per token in JS and tens of microseconds here.
#pragma once
#include <cstddef>
#include <cstdint>

namespace potron {

// Any input is safe: a NaN logit is a token that cannot be drawn (it ranks as -inf); +inf
// logits share all the probability; when nothing is above -inf, the -inf entries share it; a
// row of only NaN has nothing to draw and gives index 0 (a list of one). scale may be any value
// in (0, +inf] (+inf: the greedy limit), and no value of it or of x makes an index out of range.

// Index of the largest value; the lowest index on ties.
size_t argmax(const float* x, size_t n);

// The k largest values, in descending order (ties: lower index first); returns how many (min(k, n)).
size_t top_k(const float* x, size_t n, size_t k, int32_t* ids, float* vals);

// log(sum_i exp(scale * x_i)), computed stably; +inf if some x_i is +inf, -inf if none is finite.
double log_partition(const float* x, size_t n, float scale);

// Draws i with probability exp(scale * x_i) / sum, given u uniform in [0, 1).
size_t sample_softmax(const float* x, size_t n, float scale, double u);

// Nucleus of softmax(scale * x): the fewest entries whose probabilities sum to at least p.
// Writes them to ids/vals (which must hold n), not in any particular order; returns how many.
size_t top_p(const float* x, size_t n, float scale, double p, int32_t* ids, float* vals);

// Entries with x_i >= threshold, in index order; returns how many (ids/vals must hold n).
size_t select_at_least(const float* x, size_t n, float threshold, int32_t* ids, float* vals);

}  // namespace potron

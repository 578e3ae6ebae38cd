#include "sampling_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace potron {

// exp(x) for x <= 0 (arguments are always shifted by the maximum): 2^n * e^r with
// |r| <= ln2/2 and a degree-6 polynomial for e^r (relative error ~2e-7, below float rounding of
// the inputs). Written without calls or branches so the compiler vectorises the loops using it.
static inline float exp_nonpos(float x_in) {
  const bool zero = !(x_in > -87.0f);  // below this exp underflows anyway (and -inf, NaN: 0)
  const float x = zero ? -87.0f : x_in;  // keeps 2^n a normal float
  const float t = x * 1.44269504088896341f;
  // t <= 0, so truncating t - 0.5 rounds t to the nearest integer (an integer conversion, which
  // vectorises and which no reordering of float math can undo)
  const int32_t n = static_cast<int32_t>(t - 0.5f);
  const float r = (t - static_cast<float>(n)) * 0.693147180559945309f;
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  const int32_t sb = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &sb, 4);
  return zero ? 0.0f : p * scale;
}

// scale * (x - xmax): the exponent of x's share of the softmax, <= 0. The entries equal to the
// maximum get 0 (also when it is +inf or -inf); NaN (a NaN logit, or inf - inf) gets -inf, so a
// NaN logit is a token that cannot be drawn. With any scale in (0, +inf] this never makes NaN.
static inline float shifted(float x, float xmax, float scale) {
  if (x == xmax) return 0.0f;
  const float d = (x - xmax) * scale;
  return d == d ? d : -INFINITY;
}

static float max_of(const float* x, size_t n) {
  // 8 independent lanes: each is a plain compare-and-select, which the compiler turns into
  // vector max instructions (a single running max is a reduction it may not reorder)
  float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  }
  float m = -INFINITY;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (float v : lane) m = v > m ? v : m;
  return m;
}

// Max of 64 floats: 8 lanes over 8 rows, then the lanes (vectorises; used to skip blocks).
static inline float max64(const float* p) {
  float lane[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (size_t r = 0; r < 64; r += 8) {
    for (size_t j = 0; j < 8; ++j) lane[j] = p[r + j] > lane[j] ? p[r + j] : lane[j];
  }
  float m = -INFINITY;
  for (size_t j = 0; j < 8; ++j) m = lane[j] > m ? lane[j] : m;
  return m;
}

size_t argmax(const float* x, size_t n) {
  const float m = max_of(x, n);
  // the first index holding it: skip whole blocks that do not
  size_t i = 0;
  while (i + 64 <= n && max64(x + i) < m) i += 64;
  for (; i < n; ++i) if (x[i] == m) return i;
  return 0;
}

size_t top_k(const float* x, size_t n, size_t k, int32_t* ids, float* vals) {
  k = std::min(k, n);
  if (k == 0) return 0;
  // min-heap on (value, -index): its top is the entry that ranks lowest among those kept
  struct E { float v; int32_t i; };
  auto below = [](const E& a, const E& b) { return a.v < b.v || (a.v == b.v && a.i > b.i); };
  auto heap_cmp = [&](const E& a, const E& b) { return below(b, a); };
  std::vector<E> heap;
  heap.reserve(k);
  // NaN ranks as -inf: the comparator must be a strict weak order
  auto rank = [](float v) { return v == v ? v : -INFINITY; };
  for (size_t i = 0; i < k; ++i) heap.push_back({rank(x[i]), static_cast<int32_t>(i)});
  std::make_heap(heap.begin(), heap.end(), heap_cmp);
  float floor_v = heap.front().v;
  auto offer = [&](size_t i) {
    // later indices lose ties, so only strictly larger values enter (never NaN)
    if (!(x[i] > floor_v)) return;
    std::pop_heap(heap.begin(), heap.end(), heap_cmp);
    heap.back() = {x[i], static_cast<int32_t>(i)};
    std::push_heap(heap.begin(), heap.end(), heap_cmp);
    floor_v = heap.front().v;
  };
  size_t i = k;
  for (; i < n && i % 64 != 0; ++i) offer(i);
  // most blocks hold nothing above the current floor: test the block's max (vectorised) first
  for (; i + 64 <= n; i += 64) {
    if (max64(x + i) <= floor_v) continue;
    for (size_t j = i; j < i + 64; ++j) offer(j);
  }
  for (; i < n; ++i) offer(i);
  std::sort(heap.begin(), heap.end(), [&](const E& a, const E& b) { return below(b, a); });
  for (size_t j = 0; j < k; ++j) {
    ids[j] = heap[j].i;
    vals[j] = heap[j].v;
  }
  return k;
}

// sum_i exp(scale * (x_i - xmax)) over [begin, end): float lanes within a block (vectorised), the
// blocks added in double, so 262k terms add up without visible rounding.
static double sum_exp(const float* x, size_t begin, size_t end, float scale, float xmax) {
  double total = 0;
  constexpr size_t B = 1024;
  size_t i = begin;
  for (; i + B <= end; i += B) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t k = i; k < i + B; k += 8) {
      for (size_t j = 0; j < 8; ++j) lane[j] += exp_nonpos(shifted(x[k + j], xmax, scale));
    }
    for (float v : lane) total += v;
  }
  for (; i < end; ++i) total += exp_nonpos(shifted(x[i], xmax, scale));
  return total;
}

double log_partition(const float* x, size_t n, float scale) {
  const float xmax = max_of(x, n);
  if (std::isinf(xmax)) return xmax;  // +inf dominates; all -inf / NaN: no mass at all
  return static_cast<double>(xmax) * scale + std::log(sum_exp(x, 0, n, scale, xmax));
}

size_t sample_softmax(const float* x, size_t n, float scale, double u) {
  const float m = max_of(x, n);
  const double target = u * sum_exp(x, 0, n, scale, m);
  // whole blocks are summed (vectorised) until the block holding the target; then one by one
  constexpr size_t B = 1024;
  double acc = 0;
  size_t start = 0;
  for (; start + B <= n; start += B) {
    const double block = sum_exp(x, start, start + B, scale, m);
    if (target < acc + block) break;
    acc += block;
  }
  size_t last = 0;
  for (size_t i = start; i < n; ++i) {
    const float e = exp_nonpos(shifted(x[i], m, scale));
    if (e == 0.0f) continue;
    acc += e;
    last = i;
    if (target < acc) return i;
  }
  return last;  // rounding: u beyond the summed mass
}

size_t top_p(const float* x, size_t n, float scale, double p, int32_t* ids, float* vals) {
  // Histogram of probability mass by distance below the maximum (in nats, 1/128 wide), then
  // everything in the buckets before the one where the cumulative mass reaches p, and from that
  // bucket only the best of its entries: no sort of the vocabulary, however flat it is.
  constexpr int kBuckets = 4096;
  constexpr float kPerNat = 128.0f;  // buckets cover 32 nats; the rest share the last one
  const float m = max_of(x, n);
  std::vector<double> mass(kBuckets, 0.0);
  auto bucket = [&](float v) {
    const float d = -shifted(v, m, scale) * kPerNat;  // >= 0 or +inf, never NaN
    return d >= kBuckets - 1 ? kBuckets - 1 : static_cast<int>(d);
  };
  // masses relative to the best token's (exp(0) = 1); normalised by their total below
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    const float e = exp_nonpos(shifted(x[i], m, scale));
    mass[bucket(x[i])] += e;
    total += e;
  }
  const double target = p * total;
  double acc = 0;
  int last = kBuckets - 1;
  for (int b = 0; b < kBuckets; ++b) {
    if (acc + mass[b] >= target) { last = b; break; }
    acc += mass[b];
  }
  size_t count = 0;
  std::vector<std::pair<float, int32_t>> edge;  // entries of the bucket where p is reached
  for (size_t i = 0; i < n; ++i) {
    const int b = bucket(x[i]);
    if (b < last) {
      ids[count] = static_cast<int32_t>(i);
      vals[count++] = x[i];
    } else if (b == last) {
      edge.emplace_back(x[i], static_cast<int32_t>(i));
    }
  }
  // NaN entries (mass 0) rank last: the comparator must be a strict weak order
  for (auto& e : edge) if (e.first != e.first) e.first = -INFINITY;
  std::sort(edge.begin(), edge.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  for (const auto& [v, i] : edge) {
    ids[count] = i;
    vals[count++] = v;
    acc += exp_nonpos(shifted(v, m, scale));
    if (acc >= target) break;
  }
  return count > 0 ? count : 1;
}

size_t select_at_least(const float* x, size_t n, float threshold, int32_t* ids, float* vals) {
  size_t j = 0;
  for (size_t i = 0; i < n; ++i) {
    if (x[i] >= threshold) {
      ids[j] = static_cast<int32_t>(i);
      vals[j++] = x[i];
    }
  }
  return j;
}

}  // namespace potron

// The cell of a point on one level of a hash grid: which table rows it reads and with which
// weights, for the simplex and the cube lattice (the geometry is documented in
// nearlinear/encoding.hpp). Private to the encoding sources.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "nearlinear/encoding.hpp"

namespace nearlinear::encoding_detail {

/// Spatial-hash primes, one per axis (see encoding.hpp for where they come from).
constexpr std::uint32_t kPrimes[kMaxSimplexDims] = {
    1u,          2654435761u, 805459861u,  3674653429u, 2097192037u, 1434869437u, 2165219737u,
    3558067399u, 2821167487u, 3863301319u, 3126401419u, 2389501549u, 4168535221u, 3431635367u,
    2694735487u, 3736869299u, 2999969411u, 2263069513u, 4042103189u, 3305203333u, 2568303421u,
    3610437263u, 2873537377u, 3915671197u, 3178771303u, 2441871407u, 4220905123u, 3484005229u,
    2747105323u, 3789239161u, 3052339261u, 2315439323u};

/// One level of the grid, as the cells need it.
struct Level {
  float scale = 1;           // N_l: x in [0, 1] maps to u = N_l x
  float skew = 0;            // F_n for the simplex lattice, 0 for the cube
  std::int32_t max_base = 0; // largest cell corner per axis, so corner + 1 stays in the box
  bool dense = false;
  std::uint32_t mask = 0;    // table_size - 1
  // Dense strides. Cube: row-major over the vertex box, axis 0 fastest. Simplex: the stride
  // of axis i >= 1 in the row-major numbering of the rows (v_1 .. v_{n-1}), 0 for axis 0.
  std::uint32_t stride[kMaxSimplexDims] = {};
  // Dense simplex levels: row_start[r] + v_0 is the table row of vertex v of row r (modulo
  // 2^32: a start may be "negative"). Owned by LevelTables.
  const std::uint32_t* row_start = nullptr;
};

/// Every level of a grid, and the storage of the row starts of its dense simplex levels.
struct LevelTables {
  std::vector<Level> level;
  std::vector<std::vector<std::uint32_t>> row_starts;
};

inline float clamp_unit(float v, bool& inside) {
  inside = v >= 0.0f && v <= 1.0f;  // false for NaN too
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}

inline void prefetch_row(const float* address, bool for_write) {
#if defined(__GNUC__)
  if (for_write)
    __builtin_prefetch(address, 1);
  else
    __builtin_prefetch(address, 0);
#else
  (void)address;
  (void)for_write;
#endif
}

/// Freudenthal-Kuhn simplex of the skewed grid. D = 0: dimension known only at run time.
template <int D>
struct SimplexCell {
  static constexpr int kDims = D > 0 ? D : kMaxSimplexDims;
  static constexpr int kVertices = kDims + 1;

  explicit SimplexCell(int dims = D) : n_(dims) {}
  /// The dimension: a compile-time constant when D > 0, so loops over it unroll.
  int dims() const { return D > 0 ? D : n_; }
  int count() const { return dims() + 1; }

  void locate(const float* x, const Level& level) {
    const int n = dims();
    float u[kDims];
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
      u[i] = clamp_unit(x[i], inside[i]) * level.scale;
      sum += u[i];
    }
    const float shift = level.skew * sum;
    std::int32_t base[kDims];
    for (int i = 0; i < n; ++i) {
      const float s = u[i] + shift;
      base[i] = std::min(static_cast<std::int32_t>(s), level.max_base);  // s >= 0: floor
      frac[i] = std::min(s - static_cast<float>(base[i]), 1.0f);
    }
    // Axes by decreasing fraction, ties broken by axis number (a tie only adds a zero-weight
    // vertex, so either order gives the same value). Ranks by counting: O(n^2) comparisons
    // but no data-dependent branches, faster than a sort for the small n that matter.
    for (int i = 0; i < n; ++i) {
      int rank = 0;
      for (int j = 0; j < n; ++j)
        rank += (frac[j] > frac[i]) | ((frac[j] == frac[i]) & (j < i));
      axis[rank] = i;
    }
    weight[0] = 1.0f - frac[axis[0]];
    for (int k = 1; k < n; ++k) weight[k] = frac[axis[k - 1]] - frac[axis[k]];
    weight[n] = frac[axis[n - 1]];
    // Consecutive vertices differ by one unit step, so each row follows from the previous
    // one in O(1): add a stride, or swap one axis's term of the XOR hash.
    if (level.dense) {
      std::uint32_t outer = 0, along = static_cast<std::uint32_t>(base[0]);
      for (int i = 1; i < n; ++i) outer += static_cast<std::uint32_t>(base[i]) * level.stride[i];
      row[0] = level.row_start[outer] + along;
      for (int k = 1; k <= n; ++k) {
        const int a = axis[k - 1];
        outer += level.stride[a];  // 0 for axis 0
        along += a == 0;
        row[k] = level.row_start[outer] + along;
      }
    } else {
      std::uint32_t key = 0;
      for (int i = 0; i < n; ++i) key ^= static_cast<std::uint32_t>(base[i]) * kPrimes[i];
      row[0] = key & level.mask;
      for (int k = 1; k <= n; ++k) {
        const int a = axis[k - 1];
        const std::uint32_t b = static_cast<std::uint32_t>(base[a]);
        key ^= (b * kPrimes[a]) ^ ((b + 1u) * kPrimes[a]);
        row[k] = key & level.mask;
      }
    }
  }

  /// Add d(sum_k weight_k value_k)/dx to grad_x, where value[k] is the scalar the caller
  /// attaches to vertex k (the table row dotted with the output gradient). Inside a simplex
  /// the interpolant is value_0 + sum_j frac_axis(j) (value_{j+1} - value_j).
  void add_input_gradient(const float* value, const Level& level, float* grad_x) const {
    const int n = dims();
    float grad_s[kDims];
    float total = 0.0f;
    for (int j = 0; j < n; ++j) {
      grad_s[axis[j]] = value[j + 1] - value[j];
      total += value[j + 1] - value[j];
    }
    const float shift = level.skew * total;  // ds/du = I + F_n 1 1^T (symmetric)
    for (int i = 0; i < n; ++i)
      if (inside[i]) grad_x[i] += level.scale * (grad_s[i] + shift);
  }

  int n_;  // the dimension when D = 0
  std::uint32_t row[kVertices];
  float weight[kVertices];
  float frac[kDims];
  int axis[kDims];
  bool inside[kDims];
};

/// Cube of instant-ngp's grid, d-linear over its 2^n corners; bit i of a corner's number says
/// whether it sits at base_i + 1 on axis i.
template <int D>
struct CubeCell {
  static constexpr int kDims = D > 0 ? D : kMaxCubeDims;
  static constexpr int kVertices = 1 << kDims;

  explicit CubeCell(int dims = D) : n_(dims) {}
  int dims() const { return D > 0 ? D : n_; }
  int count() const { return 1 << dims(); }

  void locate(const float* x, const Level& level) {
    const int n = dims();
    std::int32_t base[kDims];
    for (int i = 0; i < n; ++i) {
      const float u = clamp_unit(x[i], inside[i]) * level.scale;
      base[i] = std::min(static_cast<std::int32_t>(u), level.max_base);
      frac[i] = u - static_cast<float>(base[i]);
    }
    // Weights and rows by doubling over the axes: O(2^n) rather than O(n 2^n).
    weight[0] = 1.0f;
    row[0] = 0;
    for (int d = 0; d < n; ++d) {
      const int half = 1 << d;
      const std::uint32_t b = static_cast<std::uint32_t>(base[d]);
      const std::uint32_t lo = level.dense ? b * level.stride[d] : b * kPrimes[d];
      const std::uint32_t hi = level.dense ? (b + 1u) * level.stride[d] : (b + 1u) * kPrimes[d];
      for (int c = 0; c < half; ++c) {
        weight[c + half] = weight[c] * frac[d];
        weight[c] *= 1.0f - frac[d];
        if (level.dense) {
          row[c + half] = row[c] + hi;
          row[c] += lo;
        } else {
          row[c + half] = row[c] ^ hi;
          row[c] ^= lo;
        }
      }
    }
    if (!level.dense)
      for (int c = 0; c < count(); ++c) row[c] &= level.mask;
  }

  /// Add d(sum_c weight_c value_c)/dx to grad_x (see SimplexCell::add_input_gradient).
  void add_input_gradient(const float* value, const Level& level, float* grad_x) const {
    const int n = dims();
    float grad_f[kDims] = {};
    for (int c = 0; c < count(); ++c) {
      // dweight_c/dfrac_d = +-prod_{i != d} factor_i, from prefix and suffix products.
      float factor[kDims], suffix[kDims + 1];
      for (int i = 0; i < n; ++i) factor[i] = (c >> i & 1) ? frac[i] : 1.0f - frac[i];
      suffix[n] = 1.0f;
      for (int i = n - 1; i >= 0; --i) suffix[i] = suffix[i + 1] * factor[i];
      float prefix = 1.0f;
      for (int d = 0; d < n; ++d) {
        const float others = prefix * suffix[d + 1];
        grad_f[d] += ((c >> d & 1) ? value[c] : -value[c]) * others;
        prefix *= factor[d];
      }
    }
    for (int i = 0; i < n; ++i)
      if (inside[i]) grad_x[i] += level.scale * grad_f[i];
  }

  int n_;  // the dimension when D = 0
  std::uint32_t row[kVertices];
  float weight[kVertices];
  float frac[kDims];
  bool inside[kDims];
};

/// Points located together: their rows are all known (and prefetched) before any is read, so
/// the cache misses of a group overlap. The generic group locates point by point.
/// kPipelined: whether the loops locate and prefetch the next group before reading this one
/// (measured faster while a group has at most ~80 rows; with more, the prefetches of two
/// groups overflow the outstanding-miss queue and the scatter got slower). kInterleaved:
/// whether those prefetches are spread over the points of the current group (see
/// for_each_group in encoding.cpp) instead of issued in one burst.
template <class Cell, class Enable = void>
struct CellGroup {
  static constexpr int kSize = Cell::kVertices <= 64 ? 8 : 1;
  static constexpr bool kPipelined = kSize * Cell::kVertices <= 80;
  static constexpr bool kInterleaved = false;  // measured slower for the cube (3-D forward)

  explicit CellGroup(int dims) {
    for (Cell& cell : cells) cell.n_ = dims;
  }
  int count() const { return cells[0].count(); }
  /// Locate points x[0 .. size) (rows of dims floats); size <= kSize.
  void locate(const float* x, int size, const Level& level) {
    for (int g = 0; g < size; ++g) cells[g].locate(x + g * cells[g].dims(), level);
  }
  std::uint32_t row(int g, int k) const { return cells[g].row[k]; }
  float weight(int g, int k) const { return cells[g].weight[k]; }
  /// Cell::add_input_gradient for point g.
  void add_input_gradient(int g, const float* value, const Level& level, float* grad_x) const {
    cells[g].add_input_gradient(value, level, grad_x);
  }

  Cell cells[kSize];
};

/// Simplex cells of a dimension D fixed at compile time, located kSize points at a time
/// with the points in SIMD lanes (structure of arrays): the ranks of the fractions, the
/// sorted fractions and the vertex rows are computed by compares and selects over the axes,
/// with no permutation stored and read back. Gives the same rows and weights as
/// SimplexCell<D>::locate.
template <int D>
struct CellGroup<SimplexCell<D>, std::enable_if_t<(D > 0)>> {
  static constexpr int kSize = 16;
  // Pipelined with the next group's rows requested point by point (see for_each_group):
  // measured 1.07-1.2x faster than a burst per group in 4-D and 6-D.
  static constexpr bool kPipelined = true;
  static constexpr bool kInterleaved = true;

  explicit CellGroup(int /*dims*/) {}
  int count() const { return D + 1; }

  void locate(const float* x, int size, const Level& level) {
    float frac[D][kSize];
    std::int32_t base[D][kSize];
    std::int32_t rank[D][kSize];  // copied to rank_ at the end: kept in registers meanwhile
    {
      float u[D][kSize] = {};
      if (size == kSize) {  // the common case, without a bound check per lane
        for (int p = 0; p < kSize; ++p)
          for (int i = 0; i < D; ++i) u[i][p] = x[p * D + i];
      } else {
        for (int p = 0; p < size; ++p)
          for (int i = 0; i < D; ++i) u[i][p] = x[p * D + i];
      }
      clamp_scale(&u[0][0], &inside_[0][0], level.scale);
      float sum[kSize] = {};
      for (int i = 0; i < D; ++i)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) sum[p] += u[i][p];
      // Products are rounded before they are added (the encoding sources are compiled without
      // fused multiply-adds, see cpp/CMakeLists.txt), as in SimplexCell and the NumPy
      // reference: at fine levels one rounding more or less moves a fraction by about 1e-3.
      for (int i = 0; i < D; ++i)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) {
          const float s = u[i][p] + level.skew * sum[p];
          base[i][p] = std::min(static_cast<std::int32_t>(s), level.max_base);
          frac[i][p] = std::min(s - static_cast<float>(base[i][p]), 1.0f);
        }
    }
    // rank[i]: the position of axis i when the axes are sorted by decreasing fraction, ties
    // by axis number (as SimplexCell). One comparison per pair of axes: of i < j, the one
    // with the smaller fraction (j on a tie) ranks one place later.
    for (int i = 0; i < D; ++i)
      #pragma omp simd
      for (int p = 0; p < kSize; ++p) rank[i][p] = 0;
    for (int i = 0; i < D; ++i)
      for (int j = i + 1; j < D; ++j)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) {
          const std::int32_t later = frac[j][p] > frac[i][p];  // i after j
          rank[i][p] += later;
          rank[j][p] += 1 - later;
        }
    // Vertex k + 1 steps along the axis of rank k. Hashed: its row differs from vertex k's by
    // that axis's change of XOR term, computed once per axis here and selected per vertex
    // below. Dense: by that axis's stride in the row numbering (axis 0: one more along the row).
    std::uint32_t step[D][kSize];
    std::uint32_t start[kSize] = {};
    if (!level.dense) {
      for (int i = 0; i < D; ++i)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) {
          const std::uint32_t b = static_cast<std::uint32_t>(base[i][p]);
          start[p] ^= b * kPrimes[i];
          step[i][p] = (b * kPrimes[i]) ^ ((b + 1u) * kPrimes[i]);
        }
    }
    // sorted = the fraction of rank k; weight k = sorted_{k-1} - sorted_k.
    float previous[kSize];
    #pragma omp simd
    for (int p = 0; p < kSize; ++p) previous[p] = 1.0f;
    for (int k = 0; k < D; ++k) {
      #pragma omp simd
      for (int p = 0; p < kSize; ++p) {
        float sorted = 0.0f;
        for (int i = 0; i < D; ++i) sorted = rank[i][p] == k ? frac[i][p] : sorted;
        weight_[k][p] = previous[p] - sorted;
        previous[p] = sorted;
      }
    }
    #pragma omp simd
    for (int p = 0; p < kSize; ++p) weight_[D][p] = previous[p];
    if (level.dense) {
      std::uint32_t outer[kSize] = {}, along[kSize];
      for (int i = 1; i < D; ++i)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p)
          outer[p] += static_cast<std::uint32_t>(base[i][p]) * level.stride[i];
      const std::uint32_t* row_start = level.row_start;
      #pragma omp simd
      for (int p = 0; p < kSize; ++p) {
        along[p] = static_cast<std::uint32_t>(base[0][p]);
        row_[0][p] = row_start[outer[p]] + along[p];
      }
      for (int k = 0; k < D; ++k)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) {
          std::uint32_t change = 0;
          for (int i = 1; i < D; ++i) change = rank[i][p] == k ? level.stride[i] : change;
          outer[p] += change;
          along[p] += rank[0][p] == k;
          row_[k + 1][p] = row_start[outer[p]] + along[p];
        }
    } else {
      #pragma omp simd
      for (int p = 0; p < kSize; ++p) row_[0][p] = start[p] & level.mask;
      for (int k = 0; k < D; ++k)
        #pragma omp simd
        for (int p = 0; p < kSize; ++p) {
          std::uint32_t change = 0;
          for (int i = 0; i < D; ++i) change = rank[i][p] == k ? step[i][p] : change;
          start[p] ^= change;
          row_[k + 1][p] = start[p] & level.mask;
        }
    }
    std::memcpy(rank_, rank, sizeof(rank));
  }
  /// u[q] = clamp(u[q], 0, 1) * scale and inside[q] = (0 <= u[q] <= 1) for q < D * kSize, as
  /// clamp_unit (NaN -> 0, outside). With AVX2, eight lanes at a time: the compiler leaves
  /// the plain loop scalar, with branches for the selects.
  static void clamp_scale(float* u, std::int32_t* inside, float scale) {
    static_assert(D * kSize % 8 == 0, "whole vectors");
#if defined(__AVX2__)
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 scale8 = _mm256_set1_ps(scale);
    for (int q = 0; q < D * kSize; q += 8) {
      const __m256 v = _mm256_loadu_ps(u + q);
      const __m256 in = _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GE_OQ),
                                      _mm256_cmp_ps(v, one, _CMP_LE_OQ));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(inside + q),
                          _mm256_srli_epi32(_mm256_castps_si256(in), 31));
      // max_ps(v, 0) is v > 0 ? v : 0 and min_ps(c, 1) is c < 1 ? c : 1, operand for operand.
      const __m256 c = _mm256_min_ps(_mm256_max_ps(v, zero), one);
      _mm256_storeu_ps(u + q, _mm256_mul_ps(c, scale8));
    }
#else
    for (int q = 0; q < D * kSize; ++q) {
      bool in;
      u[q] = clamp_unit(u[q], in) * scale;
      inside[q] = in;
    }
#endif
  }

  std::uint32_t row(int g, int k) const { return row_[k][g]; }
  float weight(int g, int k) const { return weight_[k][g]; }
  /// SimplexCell::add_input_gradient for point g: the step along axis i is vertex rank_i + 1,
  /// and the differences sum (telescope) to value_D - value_0.
  void add_input_gradient(int g, const float* value, const Level& level, float* grad_x) const {
    const float shift = level.skew * (value[D] - value[0]);
    for (int i = 0; i < D; ++i) {
      const int k = rank_[i][g];
      if (inside_[i][g]) grad_x[i] += level.scale * (value[k + 1] - value[k] + shift);
    }
  }

 private:
  // Vertex-major, point in the lane: row_[k][g] is vertex k of point g.
  std::uint32_t row_[D + 1][kSize];
  float weight_[D + 1][kSize];
  std::int32_t rank_[D][kSize];
  std::int32_t inside_[D][kSize];  // 1 where the coordinate lies in [0, 1]
};

}  // namespace nearlinear::encoding_detail

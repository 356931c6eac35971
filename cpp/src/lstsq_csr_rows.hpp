// The fused CSR row pass of the least-squares solvers, four rows at a time with AVX2
// (private to lstsq_operator.hpp).
//
// Why: in a random sparse design most rows hold a handful of entries, a different number in
// each, so a loop per row mispredicts its exit on almost every row; that, not memory, sets
// the speed of the plain row loop (it runs about twice as fast when every row has the same
// length). Here the four rows' entries, which are contiguous, are read as one run, four
// entries to a vector, and each entry is credited to its row by comparing its position with
// the rows' bounds: one loop exit per four rows instead of two per row. The dot products
// are lane-wise masked sums (exact zeros for the lanes of other rows), then the scatter
// acc[j] += a_ij y_i runs over the same run with y_i picked per lane.
//
// The run is read in whole vectors, so up to three entries past its end: entries of later
// rows, which contribute nothing (masked); their indices are gathered or written (as an
// exact zero) only once the structure has been checked. Rows whose vectors would reach past
// nnz are left to the caller's scalar loop. At x = 0 (the first pass of the diagonal
// method) y_i = b_i is known before its row is read, and one sweep does both.
#pragma once

#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "nearlinear/common.hpp"

namespace nearlinear::lstsq_detail {

#if defined(__AVX2__)
inline constexpr bool kCsrRowsByFour = true;

namespace csr_rows {

inline __m256d load4(const double* p) { return _mm256_loadu_pd(p); }
inline __m256d load4(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
/// w at four indices: four scalar loads, which measure faster than the gather instruction.
template <typename I>
inline __m256d gather4(const double* w, const I* idx) {
  return _mm256_setr_pd(w[idx[0]], w[idx[1]], w[idx[2]], w[idx[3]]);
}
/// The lanes of four column indices outside [0, d), as a 64-bit lane mask.
inline __m256i out_of_range(const std::int32_t* idx, std::int64_t d) {
  const __m128i j = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx));
  __m128i ok = _mm_cmpgt_epi32(j, _mm_set1_epi32(-1));  // j >= 0
  if (d <= INT32_MAX)
    ok = _mm_and_si128(ok, _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<std::int32_t>(d)), j));
  return _mm256_xor_si256(_mm256_cvtepi32_epi64(ok), _mm256_set1_epi64x(-1));
}
inline __m256i out_of_range(const std::int64_t* idx, std::int64_t d) {
  const __m256i j = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
  const __m256i ok = _mm256_andnot_si256(_mm256_cmpgt_epi64(_mm256_setzero_si256(), j),
                                         _mm256_cmpgt_epi64(_mm256_set1_epi64x(d), j));
  return _mm256_xor_si256(ok, _mm256_set1_epi64x(-1));
}
/// The gather for unchecked indices: lanes set in bad (out of range) read nothing (0).
inline __m256d gather4_masked(const double* w, const std::int32_t* idx, __m256i bad) {
  const __m128i j = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx));
  const __m256d ok = _mm256_castsi256_pd(_mm256_xor_si256(bad, _mm256_set1_epi64x(-1)));
  return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), w, j, ok, 8);
}
inline __m256d gather4_masked(const double* w, const std::int64_t* idx, __m256i bad) {
  const __m256i j = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
  const __m256d ok = _mm256_castsi256_pd(_mm256_xor_si256(bad, _mm256_set1_epi64x(-1)));
  return _mm256_mask_i64gather_pd(_mm256_setzero_pd(), w, j, ok, 8);
}
/// The four lane sums of a, b, c, e, in that order.
inline __m256d lane_sums(__m256d a, __m256d b, __m256d c, __m256d e) {
  const __m256d ab = _mm256_hadd_pd(a, b), ce = _mm256_hadd_pd(c, e);
  return _mm256_add_pd(_mm256_permute2f128_pd(ab, ce, 0x20), _mm256_permute2f128_pd(ab, ce, 0x31));
}
inline double sum4(__m256d v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

/// Four consecutive rows, entries [s0, s4): which row each lane of a vector of positions
/// belongs to.
struct FourRows {
  std::int64_t s0, s1, s2, s3, s4;
  __m256i e1, e2, e3, e4;
  template <typename I>
  explicit FourRows(const I* bounds)  // indptr + i
      : s0(bounds[0]), s1(bounds[1]), s2(bounds[2]), s3(bounds[3]), s4(bounds[4]),
        e1(_mm256_set1_epi64x(s1)), e2(_mm256_set1_epi64x(s2)), e3(_mm256_set1_epi64x(s3)),
        e4(_mm256_set1_epi64x(s4)) {}
  /// Whether the bounds are non-decreasing from 0 (the caller has checked s4 + 3 <= nnz).
  bool ordered() const { return 0 <= s0 && s0 <= s1 && s1 <= s2 && s2 <= s3 && s3 <= s4; }
  /// Lane masks of positions p..p+3: in row 0 (< s1), in rows 0-1 (< s2), 0-2, 0-3 (< s4,
  /// inside the run).
  void masks(std::int64_t p, __m256i& g1, __m256i& g2, __m256i& g3, __m256i& g4) const {
    const __m256i pos = _mm256_add_epi64(_mm256_set1_epi64x(p), _mm256_setr_epi64x(0, 1, 2, 3));
    g1 = _mm256_cmpgt_epi64(e1, pos);
    g2 = _mm256_cmpgt_epi64(e2, pos);
    g3 = _mm256_cmpgt_epi64(e3, pos);
    g4 = _mm256_cmpgt_epi64(e4, pos);
  }
};

/// r_k += the lanes of v in row k of the run (masks g1..g4 of FourRows::masks).
inline void add_by_row(__m256d v, __m256i g1, __m256i g2, __m256i g3, __m256i g4,
                       __m256d (&r)[4]) {
  auto pick = [v](__m256i lo, __m256i hi) {  // lo false, hi true
    return _mm256_and_pd(v, _mm256_castsi256_pd(_mm256_andnot_si256(lo, hi)));
  };
  r[0] = _mm256_add_pd(r[0], _mm256_and_pd(v, _mm256_castsi256_pd(g1)));
  r[1] = _mm256_add_pd(r[1], pick(g1, g2));
  r[2] = _mm256_add_pd(r[2], pick(g2, g3));
  r[3] = _mm256_add_pd(r[3], pick(g3, g4));
}

/// Each lane's row value: y_r (broadcast) for the lanes in row r of the run (masks of
/// FourRows::masks; lanes past the run get y_3 and are masked by the caller).
inline __m256d row_values(__m256i g1, __m256i g2, __m256i g3, __m256d y_0, __m256d y_1,
                          __m256d y_2, __m256d y_3) {
  __m256d y = _mm256_blendv_pd(y_3, y_2, _mm256_castsi256_pd(g3));
  y = _mm256_blendv_pd(y, y_1, _mm256_castsi256_pd(g2));
  return _mm256_blendv_pd(y, y_0, _mm256_castsi256_pd(g1));
}

/// acc[j_l] += v_l y_{row(l)} for the lanes inside the run, y_r: the row values broadcast.
/// Lanes past the run add an exact 0 to their column, which is valid (checked: every index
/// of the vector, past the run too, has been checked before).
template <typename I>
inline void scatter4(std::int64_t p, __m256d v, __m256i g1, __m256i g2, __m256i g3,
                     __m256i g4, __m256d y_0, __m256d y_1, __m256d y_2, __m256d y_3,
                     const I* indices, double* acc) {
  const __m256d y = row_values(g1, g2, g3, y_0, y_1, y_2, y_3);
  alignas(32) double part[4];
  _mm256_store_pd(part, _mm256_and_pd(_mm256_mul_pd(v, y), _mm256_castsi256_pd(g4)));
  for (int l = 0; l < 4; ++l) acc[indices[p + l]] += part[l];
}

/// As scatter4, and also the squares: pairs[2 j_l] += v_l y_{row(l)} and
/// pairs[2 j_l + 1] += v_l^2, one 16-byte add per entry instead of two scalar ones.
template <typename I>
inline void scatter4_with_squares(std::int64_t p, __m256d v, __m256i g1, __m256i g2,
                                  __m256i g3, __m256i g4, __m256d y_0, __m256d y_1,
                                  __m256d y_2, __m256d y_3, const I* indices, double* pairs) {
  const __m256d y = row_values(g1, g2, g3, y_0, y_1, y_2, y_3);
  const __m256d inside = _mm256_castsi256_pd(g4);
  const __m256d part = _mm256_and_pd(_mm256_mul_pd(v, y), inside);
  const __m256d square = _mm256_and_pd(_mm256_mul_pd(v, v), inside);
  const __m256d even = _mm256_unpacklo_pd(part, square);  // lanes 0 and 2
  const __m256d odd = _mm256_unpackhi_pd(part, square);   // lanes 1 and 3
  auto add = [pairs](std::int64_t j, __m128d x) {
    double* q = pairs + 2 * j;
    _mm_storeu_pd(q, _mm_add_pd(_mm_loadu_pd(q), x));
  };
  add(indices[p], _mm256_castpd256_pd128(even));
  add(indices[p + 1], _mm256_castpd256_pd128(odd));
  add(indices[p + 2], _mm256_extractf128_pd(even, 1));
  add(indices[p + 3], _mm256_extractf128_pd(odd, 1));
}

/// body(i, run) for rows i = begin, begin + 4, ... while four more rows fit before end and
/// their vectors stay within nnz; with kCheck a run whose bounds are out of order is skipped
/// and valid set to false. Returns the first row not visited.
template <bool kCheck, typename I, typename Body>
Index for_each_four_rows(Index begin, Index end, const I* indptr, Index nnz, bool& valid,
                         Body&& body) {
  Index i = begin;
  for (; i + 4 <= end && static_cast<Index>(indptr[i + 4]) + 3 <= nnz; i += 4) {
    const FourRows run(indptr + i);
    if (kCheck && !run.ordered()) {
      valid = false;
      continue;
    }
    body(i, run);
  }
  return i;
}

}  // namespace csr_rows

/// Rows [begin, end) of one fused pass with one right-hand side, four at a time:
/// y_i = a_i . w (kResidual: b_i - a_i . w), sq += y_i^2 and acc += y_i a_i^T. A has d
/// columns and nnz entries. With kCheck the structure is checked as it is read, like the
/// caller's loop does: four rows whose bounds are not non-decreasing from 0, or whose vectors
/// hold a column index outside [0, d), are skipped and valid is set to false (no memory
/// outside the arrays is read). The vectors reach up to three entries past the run: those
/// are entries of later rows (every position below nnz is, in a well-formed A), so a bad
/// index there is an error too, and checking it lets the whole vector be written. Returns
/// the first row it did not process (the caller finishes from there): it stops at end, or
/// where four more rows would read past nnz.
template <bool kCheck, bool kResidual, typename T, typename I>
Index csr_rows_by_four(Index begin, Index end, const I* indptr, const I* indices, const T* data,
                       Index nnz, Index d, const double* w, const double* b, double* acc,
                       double& sq, bool& valid) {
  using namespace csr_rows;
  const __m256d zero = _mm256_setzero_pd();
  __m256d ss = zero;
  const Index next = for_each_four_rows<kCheck>(begin, end, indptr, nnz, valid,
                                                [&](Index i, const FourRows& run) {
    __m256d dots[4] = {zero, zero, zero, zero};
    __m256i bad_lanes = _mm256_setzero_si256();
    for (std::int64_t p = run.s0; p < run.s4; p += 4) {
      __m256i g1, g2, g3, g4;
      run.masks(p, g1, g2, g3, g4);
      __m256d wj;
      if constexpr (kCheck) {
        const __m256i bad = out_of_range(indices + p, d);  // past the run too: see above
        bad_lanes = _mm256_or_si256(bad_lanes, bad);
        wj = gather4_masked(w, indices + p, bad);
      } else {
        wj = gather4(w, indices + p);
      }
      add_by_row(_mm256_mul_pd(load4(data + p), wj), g1, g2, g3, g4, dots);
    }
    if (kCheck && !_mm256_testz_si256(bad_lanes, bad_lanes)) {
      valid = false;
      return;
    }
    __m256d y = lane_sums(dots[0], dots[1], dots[2], dots[3]);
    if constexpr (kResidual) y = _mm256_sub_pd(_mm256_loadu_pd(b + i), y);
    ss = _mm256_add_pd(ss, _mm256_mul_pd(y, y));
    const __m256d y_0 = _mm256_permute4x64_pd(y, 0x00), y_1 = _mm256_permute4x64_pd(y, 0x55);
    const __m256d y_2 = _mm256_permute4x64_pd(y, 0xAA), y_3 = _mm256_permute4x64_pd(y, 0xFF);
    for (std::int64_t p = run.s0; p < run.s4; p += 4) {
      __m256i g1, g2, g3, g4;
      run.masks(p, g1, g2, g3, g4);
      scatter4(p, load4(data + p), g1, g2, g3, g4, y_0, y_1, y_2, y_3, indices, acc);
    }
  });
  sq += sum4(ss);
  return next;
}

/// The residual pass at x = 0 (y_i = b_i, known before the row is read), as
/// csr_rows_by_four but in one sweep over each run; with kColumns also the squared column
/// norms, acc then holding the pairs (acc_j, col_j) at 2 j and 2 j + 1, and ones +=
/// (sum_j a_ij)^2 (the first pass of the diagonal method).
template <bool kCheck, bool kColumns, typename T, typename I>
Index csr_rows_by_four_at_zero(Index begin, Index end, const I* indptr, const I* indices,
                               const T* data, Index nnz, Index d, const double* b, double* acc,
                               double& sq, double& ones, bool& valid) {
  using namespace csr_rows;
  const __m256d zero = _mm256_setzero_pd();
  __m256d ss = zero, os = zero;
  const Index next = for_each_four_rows<kCheck>(begin, end, indptr, nnz, valid,
                                                [&](Index i, const FourRows& run) {
    const __m256d y = _mm256_loadu_pd(b + i);
    const __m256d y_0 = _mm256_permute4x64_pd(y, 0x00), y_1 = _mm256_permute4x64_pd(y, 0x55);
    const __m256d y_2 = _mm256_permute4x64_pd(y, 0xAA), y_3 = _mm256_permute4x64_pd(y, 0xFF);
    __m256d sums[4] = {zero, zero, zero, zero};
    bool ok = true;
    for (std::int64_t p = run.s0; p < run.s4; p += 4) {
      __m256i g1, g2, g3, g4;
      run.masks(p, g1, g2, g3, g4);
      if constexpr (kCheck) {
        const __m256i bad = out_of_range(indices + p, d);  // past the run too: see above
        if (!_mm256_testz_si256(bad, bad)) {
          ok = false;
          break;
        }
      }
      const __m256d v = load4(data + p);
      if constexpr (kColumns) {
        add_by_row(v, g1, g2, g3, g4, sums);
        scatter4_with_squares(p, v, g1, g2, g3, g4, y_0, y_1, y_2, y_3, indices, acc);
      } else {
        scatter4(p, v, g1, g2, g3, g4, y_0, y_1, y_2, y_3, indices, acc);
      }
    }
    if (kCheck && !ok) {
      valid = false;
      return;
    }
    ss = _mm256_add_pd(ss, _mm256_mul_pd(y, y));
    if constexpr (kColumns) {
      const __m256d t = lane_sums(sums[0], sums[1], sums[2], sums[3]);
      os = _mm256_add_pd(os, _mm256_mul_pd(t, t));
    }
  });
  sq += sum4(ss);
  if constexpr (kColumns) ones += sum4(os);
  return next;
}
#else
inline constexpr bool kCsrRowsByFour = false;

/// Without AVX2 every row is left to the caller's loop.
template <bool kCheck, bool kResidual, typename T, typename I>
Index csr_rows_by_four(Index begin, Index, const I*, const I*, const T*, Index, Index,
                       const double*, const double*, double*, double&, bool&) {
  return begin;
}
template <bool kCheck, bool kColumns, typename T, typename I>
Index csr_rows_by_four_at_zero(Index begin, Index, const I*, const I*, const T*, Index, Index,
                               const double*, double*, double&, double&, bool&) {
  return begin;
}
#endif

}  // namespace nearlinear::lstsq_detail

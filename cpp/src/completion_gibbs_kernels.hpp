// Small dense kernels of the Gibbs row draws (private to completion_sampling.cpp).
//
// Each row's conditional is a d by d Gaussian with d = k + 1 of a factor model (11 at the
// default rank), so its cost is loop overhead, not arithmetic: the kernels take the padded
// width D (a multiple of 4) as a template argument, so that every loop has a compile-time
// trip count and unrolls and vectorises, with D = 0 meaning "given at run time" for ranks
// without an instantiation. Padding rows and columns of a matrix hold the identity, so that
// the factorisation and the solves of the padded system leave the first d entries exact.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "nearlinear/common.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

/// The width to use: the template argument, else the run-time value.
template <int kD>
constexpr Index width(Index D) {
  return kD > 0 ? kD : D;
}

/// Rows r0..r0+R-1, columns c0..c0+3 of A^T A: R x 4 accumulators that stay in registers,
/// one broadcast and one 4-wide load per row of A.
template <int kD, int R>
void gram_tile(const double* A, std::int64_t n, Index D_run, Index r0, Index c0, double* W) {
  const Index D = width<kD>(D_run);
  double acc[R][4] = {};
  for (std::int64_t t = 0; t < n; ++t) {
    const double* a = A + t * D;
    for (int q = 0; q < R; ++q)
      for (int c = 0; c < 4; ++c) acc[q][c] += a[r0 + q] * a[c0 + c];
  }
  for (int q = 0; q < R; ++q)
    for (int c = 0; c < 4; ++c) W[(r0 + q) * D + c0 + c] = acc[q][c];
}

#if defined(__GNUC__)
/// Four doubles in one vector register (GCC and Clang vector extension).
typedef double Double4 __attribute__((vector_size(32)));

/// The 4 by 4 blocks on and below the diagonal of W = A^T A for D = 4 NB in one pass, where
/// row t of A is row idx[t] of `rows` (#? by #D row-major) plus value[t] in entry `d`: each
/// row is loaded once (NB vectors) and never stored, each of its entries broadcast once
/// against 2 NB (NB + 1) vector accumulators, which must fit in the register file. The
/// values enter afterwards: with a_t = r_t + v_t e_d, row d of A^T A is
/// sum_t r_td r_t + sum_t v_t r_t (+ sum_t v_t r_td + sum_t v_t^2 at the diagonal).
template <int NB>
void gather_gram_one_pass(const double* rows, const std::int32_t* idx, const double* value,
                          std::int64_t n, Index d, double* W) {
  constexpr int D = 4 * NB, kBlocks = NB * (NB + 1) / 2;
  Double4 acc[kBlocks][4] = {};
  Double4 by_value[NB] = {};  // sum_t v_t r_t
  for (std::int64_t t = 0; t < n; ++t) {
    const double* a = rows + static_cast<Index>(idx[t]) * D;
    Double4 col[NB];
    for (int cb = 0; cb < NB; ++cb) {
      __builtin_memcpy(&col[cb], a + 4 * cb, sizeof(Double4));
      by_value[cb] += value[t] * col[cb];
    }
    for (int rb = 0, block = 0; rb < NB; block += ++rb)
      for (int q = 0; q < 4; ++q) {
        const double s = a[4 * rb + q];
        for (int cb = 0; cb <= rb; ++cb) acc[block + cb][q] += s * col[cb];
      }
  }
  for (int rb = 0, block = 0; rb < NB; block += ++rb)
    for (int q = 0; q < 4; ++q)
      for (int cb = 0; cb <= rb; ++cb)
        __builtin_memcpy(W + (4 * rb + q) * D + 4 * cb, &acc[block + cb][q], sizeof(Double4));
  double squares = 0.0;
  for (std::int64_t t = 0; t < n; ++t) squares += value[t] * value[t];
  for (Index c = 0; c < d; ++c) W[d * D + c] += by_value[c / 4][c % 4];
  W[d * D + d] += 2.0 * by_value[d / 4][d % 4] + squares;
}

/// gather_gram for D = 12 (rank 10 with biases, the default) when the 24 accumulators of
/// gather_gram_one_pass<3> do not fit in the 16 vector registers of AVX2: three passes over
/// the rows idx[t] of `rows`, none storing A. Rows 0-7 of W against column blocks 0-1
/// (blocks (0,0), (1,0), (1,1): 12 accumulators, two loads and eight broadcasts per row),
/// then rows 8-11 against all three blocks (12 accumulators, each broadcast against the
/// three loaded blocks in turn so that 16 registers hold the loop), then the values as in
/// gather_gram_one_pass.
inline void gather_gram_12_three_passes(const double* rows, const std::int32_t* idx,
                                        const double* value, std::int64_t n, Index d,
                                        double* W) {
  constexpr int D = 12;
  Double4 top[3][4] = {};
  for (std::int64_t t = 0; t < n; ++t) {
    const double* a = rows + static_cast<Index>(idx[t]) * D;
    Double4 c0, c1;
    __builtin_memcpy(&c0, a, sizeof(Double4));
    __builtin_memcpy(&c1, a + 4, sizeof(Double4));
    for (int q = 0; q < 4; ++q) top[0][q] += a[q] * c0;
    for (int q = 0; q < 4; ++q) {
      const double s = a[4 + q];
      top[1][q] += s * c0;
      top[2][q] += s * c1;
    }
  }
  for (int q = 0; q < 4; ++q) {
    __builtin_memcpy(W + q * D, &top[0][q], sizeof(Double4));
    __builtin_memcpy(W + (4 + q) * D, &top[1][q], sizeof(Double4));
    __builtin_memcpy(W + (4 + q) * D + 4, &top[2][q], sizeof(Double4));
  }
  Double4 bottom[3][4] = {};
  for (std::int64_t t = 0; t < n; ++t) {
    const double* a = rows + static_cast<Index>(idx[t]) * D;
    Double4 col[3];
    for (int cb = 0; cb < 3; ++cb) __builtin_memcpy(&col[cb], a + 4 * cb, sizeof(Double4));
    for (int q = 0; q < 4; ++q) {
      const double s = a[8 + q];
      for (int cb = 0; cb < 3; ++cb) bottom[cb][q] += s * col[cb];
    }
  }
  for (int q = 0; q < 4; ++q)
    for (int cb = 0; cb < 3; ++cb)
      __builtin_memcpy(W + (8 + q) * D + 4 * cb, &bottom[cb][q], sizeof(Double4));
  Double4 by_value[3] = {};  // sum_t v_t r_t
  double squares = 0.0;
  for (std::int64_t t = 0; t < n; ++t) {
    const double* a = rows + static_cast<Index>(idx[t]) * D;
    for (int cb = 0; cb < 3; ++cb) {
      Double4 col;
      __builtin_memcpy(&col, a + 4 * cb, sizeof(Double4));
      by_value[cb] += value[t] * col;
    }
    squares += value[t] * value[t];
  }
  for (Index c = 0; c < d; ++c) W[d * D + c] += by_value[c / 4][c % 4];
  W[d * D + d] += 2.0 * by_value[d / 4][d % 4] + squares;
}
#endif

/// Whether gather_gram runs without storing A for this D (see below).
template <int kD>
constexpr bool gram_in_one_pass() {
#if defined(__GNUC__)
  return kD == 4 || kD == 8 || kD == 12;
#else
  return false;
#endif
}

/// Lower triangle (and the diagonal tiles) of W = A^T A, #D by #D row-major, for A #n by #D
/// row-major with D a multiple of 4: register tiles of 8 or 4 rows by 4 columns, each one
/// pass over A, n D (D + 4) / 2 multiply-adds.
template <int kD>
void gram_lower(const double* A, std::int64_t n, Index D_run, double* W) {
  const Index D = width<kD>(D_run);
  for (Index c0 = 0; c0 < D; c0 += 4) {
    Index r0 = c0;
    for (; r0 + 8 <= D; r0 += 8) gram_tile<kD, 8>(A, n, D, r0, c0, W);
    if (r0 < D) gram_tile<kD, 4>(A, n, D, r0, c0, W);
  }
}

/// The lower triangle of W = A^T A up to row d (what the row draws read), for A #n by #D
/// whose row t is row idx[t] of `rows` (#? by #D row-major) plus value[t] in entry d < D.
/// Without storing A when the accumulators fit in the registers (one pass for D <= 8 and for
/// D = 12 with AVX-512's 32 registers; three passes for D = 12 with AVX2's 16), else
/// gathered into `scratch` (#n by #D) first.
template <int kD>
void gather_gram(const double* rows, const std::int32_t* idx, const double* value,
                 std::int64_t n, Index d, Index D_run, double* scratch, double* W) {
#if defined(__GNUC__) && !defined(__AVX512VL__)
  if constexpr (kD == 12) {
    gather_gram_12_three_passes(rows, idx, value, n, d, W);
    return;
  }
#endif
#if defined(__GNUC__)
  if constexpr (gram_in_one_pass<kD>()) {
    gather_gram_one_pass<kD / 4>(rows, idx, value, n, d, W);
    return;
  }
#endif
  const Index D = width<kD>(D_run);
  for (std::int64_t t = 0; t < n; ++t) {
    double* a = scratch + t * D;
    std::memcpy(a, rows + static_cast<Index>(idx[t]) * D, D * sizeof(double));
    a[d] += value[t];
  }
  gram_lower<kD>(scratch, n, D, W);
}

/// In place: the upper triangle of the symmetric G (#D by #D row-major, upper triangle read)
/// becomes U with U^T U = G (U = L^T of the Cholesky factor L), and inv[j] = 1 / U(j, j).
/// Right-looking by rows, so that each update is a contiguous, vectorisable row operation.
/// A pivot not above `floor` fails the factorisation (returns false) when floor is 0 and is
/// raised to floor otherwise. O(D^3 / 6).
template <int kD>
bool upper_cholesky(double* G, Index D_run, double floor, double* inv) {
  const Index D = width<kD>(D_run);
  for (Index j = 0; j < D; ++j) {
    double* Uj = G + j * D;
    double pivot = Uj[j];
    if (!(pivot > floor)) {
      if (floor == 0.0) return false;
      pivot = floor;
    }
    const double root = std::sqrt(pivot), scale = 1.0 / root;
    Uj[j] = root;
    inv[j] = scale;
    for (Index c = j + 1; c < D; ++c) Uj[c] *= scale;
    for (Index i = j + 1; i < D; ++i) {
      double* Gi = G + i * D;
      const double u = Uj[i];
      for (Index c = i; c < D; ++c) Gi[c] -= u * Uj[c];
    }
  }
  return true;
}

/// x <- U^-T x (forward substitution with the transposed upper factor).
template <int kD>
void transposed_upper_solve(const double* U, const double* inv, Index D_run, double* x) {
  const Index D = width<kD>(D_run);
  for (Index j = 0; j < D; ++j) {
    const double xj = x[j] * inv[j];
    x[j] = xj;
    const double* Uj = U + j * D;
    for (Index c = j + 1; c < D; ++c) x[c] -= xj * Uj[c];
  }
}

/// x <- U^-1 x and y <- U^-1 y (back substitution): the two independent chains of
/// dependent multiply-adds interleave.
template <int kD>
void upper_solve2(const double* U, const double* inv, Index D_run, double* x, double* y) {
  const Index D = width<kD>(D_run);
  for (Index i = D - 1; i >= 0; --i) {
    const double* Ui = U + i * D;
    double s = x[i], t = y[i];
    for (Index c = i + 1; c < D; ++c) {
      s -= Ui[c] * x[c];
      t -= Ui[c] * y[c];
    }
    x[i] = s * inv[i];
    y[i] = t * inv[i];
  }
}

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

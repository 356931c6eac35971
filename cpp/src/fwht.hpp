// In-place fast Walsh-Hadamard transform over the rows of a small row-major block.
#pragma once

#include "nearlinear/common.hpp"

namespace nearlinear::sketch_detail {

/// Replace the #B by #w row-major block X (B a power of two) by H_B X, H_B the unnormalised
/// Walsh-Hadamard matrix in natural (Sylvester) order: (H_B)_{kl} = (-1)^popcount(k & l).
/// Each butterfly acts on whole rows of w contiguous values, so it vectorises over w. Stages
/// go two at a time (radix 4: rows j, j + h, j + 2h, j + 3h are read and written once for
/// stages h and 2h), which halves the traffic through the cache of the radix-2 sweeps; a
/// last radix-2 stage when log2 B is odd. Cost B log2(B) w additions.
template <typename T>
void fwht_rows(T* X, Index B, Index w) {
  Index h = 1;
  for (; 4 * h <= B; h *= 4) {
    for (Index i = 0; i < B; i += 4 * h) {
      for (Index j = i; j < i + h; ++j) {
        T* __restrict r0 = X + j * w;
        T* __restrict r1 = X + (j + h) * w;
        T* __restrict r2 = X + (j + 2 * h) * w;
        T* __restrict r3 = X + (j + 3 * h) * w;
#pragma omp simd
        for (Index c = 0; c < w; ++c) {
          const T s0 = r0[c] + r1[c], d0 = r0[c] - r1[c];
          const T s1 = r2[c] + r3[c], d1 = r2[c] - r3[c];
          r0[c] = s0 + s1;
          r1[c] = d0 + d1;
          r2[c] = s0 - s1;
          r3[c] = d0 - d1;
        }
      }
    }
  }
  if (h < B) {
    for (Index j = 0; j < h; ++j) {
      T* __restrict a = X + j * w;
      T* __restrict b = X + (j + h) * w;
#pragma omp simd
      for (Index c = 0; c < w; ++c) {
        const T x = a[c], y = b[c];
        a[c] = x + y;
        b[c] = x - y;
      }
    }
  }
}

}  // namespace nearlinear::sketch_detail

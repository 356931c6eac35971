// In-place fast Walsh-Hadamard transform over the rows of a small row-major block.
#pragma once

#include "nearlinear/common.hpp"

namespace nearlinear::sketch_detail {

/// Replace the #B by #w row-major block X (B a power of two) by H_B X, H_B the unnormalised
/// Walsh-Hadamard matrix in natural (Sylvester) order: (H_B)_{kl} = (-1)^popcount(k & l).
/// Each butterfly acts on whole rows of w contiguous values, so it vectorises over w.
/// Cost B log2(B) w additions.
template <typename T>
void fwht_rows(T* X, Index B, Index w) {
  for (Index h = 1; h < B; h *= 2) {
    for (Index i = 0; i < B; i += 2 * h) {
      for (Index j = i; j < i + h; ++j) {
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
}

}  // namespace nearlinear::sketch_detail

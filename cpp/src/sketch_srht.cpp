// Subsampled randomized Hadamard transform (Ailon & Chazelle 2009; Tropp 2011):
// S A = sqrt(N/m) P H D A = (1/sqrt(m)) P H_N D A, with H_N the unnormalised Walsh-Hadamard
// matrix of order N (A zero-padded to N rows).
//
// Only the m sampled rows of H_N D A are needed. Split row indices as i = b B + l and
// k = q B + p with B a power of two; then (H_N)_{ki} = (-1)^popcount(q & b) (H_B)_{pl}, so
//   (H_N x)_k = sum_b (-1)^popcount(q & b) (H_B x_b)_p,
// where x_b is the b-th block of B rows. Each block is transformed in cache (a B-row tile of
// the data, butterflies on whole rows of contiguous values) and immediately added, with the
// sign of its block, into the m sampled output rows. A is read once, nothing of size N is
// stored, and the cost is N d (log2 B + m / B) additions instead of N d log2 N.
#include <algorithm>
#include <cmath>
#include <vector>

#include "fwht.hpp"
#include "nearlinear/random.hpp"
#include "sketch_detail.hpp"

namespace nearlinear::sketch_detail {

// The block size: the additions log2 B + m / B are least near B = m ln 2, but the m / B
// updates of the accumulators (m rows, beyond L2) cost more per addition than the butterflies
// (on a tile in L2), so B is the power of two at or above m (measured 10-15% faster than
// m / 2 at m = 800, d = 200).
Index srht_block_size(Index N, Index m) {
  Index B = 64;
  while (B < m && B < 8192) B *= 2;
  return std::min(B, N);
}

namespace {
/// log2 of the block size B (a power of two).
int block_log2(Index B) {
  int log_b = 0;
  while ((Index(1) << log_b) < B) ++log_b;
  return log_b;
}
}  // namespace

template <typename T, typename C>
RowMatrix<C> apply_srht(const SketchSpec& spec, const DataView<T>& A) {
  const Index n = A.rows, d = A.cols, m = spec.m;
  const Index N = srht_padded_size(n);
  const std::vector<Index> rows = srht_rows(spec);
  const Index B = srht_block_size(N, m);
  const int log_b = block_log2(B);
  // Columns in chunks of W values, so that a block's chunk (B x W) is transformed in L2. Each
  // task reads its blocks of A whole, in storage order, into a chunk-major tile: reading a
  // column chunk of a row-major A strided is several times slower than a sequential pass.
  // A narrow A (a right-hand side, d < one cache line) gets W = d: padding it to a line
  // would transform the zero columns too.
  const Index line = 64 / static_cast<Index>(sizeof(C));
  Index W = std::min(line, d);
  while (W < 4 * line && W < d && 2 * B * W * static_cast<Index>(sizeof(C)) <= (256 << 10))
    W *= 2;
  const Index chunks = (d + W - 1) / W;
  TaskPlan plan = make_plan(N, d, m, d, B, B, sizeof(C));
  plan.pad = W;

  std::vector<std::uint64_t> sign_words(static_cast<std::size_t>((n + 63) / 64));
  for (std::size_t q = 0; q < sign_words.size(); ++q)
    sign_words[q] = rng::hash(kind_seed(spec), 0, q);
  auto row_sign = [&](Index i) {
    return ((sign_words[i >> 6] >> (i & 63)) & 1u) ? -1.0 : 1.0;
  };
  std::vector<Index> row_in_block(m), block_of_row(m);
  for (Index t = 0; t < m; ++t) {
    row_in_block[t] = rows[t] & (B - 1);
    block_of_row[t] = rows[t] >> log_b;
  }

  RowMatrix<C> out = run_plan<C>(plan, N, m, d, [&](Index i0, Index i1, Index, Index, C* acc,
                                                    Index) {
    ThreadScratch<C, TileScratch> tile(static_cast<std::size_t>(chunks * B * W));
    if (d % W != 0)  // zero the padding columns, which loading leaves alone
      std::fill(tile.data(), tile.data() + chunks * B * W, C(0));
    for (Index b0 = i0; b0 < i1 && b0 < n; b0 += B) {
      const auto block = static_cast<unsigned long long>(b0 >> log_b);
      load_chunked(A, b0, b0 + B, W, tile.data(), B, row_sign);
      for (Index k = 0; k < chunks; ++k) {
        C* sub = tile.data() + k * B * W;
        fwht_rows(sub, B, W);
        for (Index t = 0; t < m; ++t) {
          const C* __restrict src = sub + row_in_block[t] * W;
          C* __restrict dst = acc + (k * m + t) * W;
          // A multiply by +-1, not a branch: the signs are random.
          const C sign = __builtin_parityll(static_cast<unsigned long long>(block_of_row[t]) &
                                            block)
                             ? C(-1)
                             : C(1);
#pragma omp simd
          for (Index c = 0; c < W; ++c) dst[c] += sign * src[c];
        }
      }
    }
  });
  out *= static_cast<C>(1.0 / std::sqrt(static_cast<double>(m)));
  return out;
}

template RowMatrix<float> apply_srht<float, float>(const SketchSpec&, const DataView<float>&);
template RowMatrix<double> apply_srht<double, double>(const SketchSpec&, const DataView<double>&);
template RowMatrix<float> apply_srht<double, float>(const SketchSpec&, const DataView<double>&);

}  // namespace nearlinear::sketch_detail

namespace nearlinear {

Index srht_single_rounding_depth(Index n, Index m) {
  const Index B = sketch_detail::srht_block_size(srht_padded_size(n), std::max<Index>(m, 1));
  // The load, log2 B butterflies, one accumulation per block of B rows, the final scaling.
  return 1 + sketch_detail::block_log2(B) + (n + B - 1) / B + 1;
}

}  // namespace nearlinear

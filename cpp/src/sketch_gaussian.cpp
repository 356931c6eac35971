// Gaussian sketch: S = G / sqrt(m), G i.i.d. N(0, 1). S is generated on the fly, B columns at a
// time, and each block is applied with Eigen's GEMM: S A = sum_b S[:, block b] A[block b, :].
// The m x n matrix is never stored. Cost 2 m n d flops plus m n normal draws.
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "nearlinear/random.hpp"
#include "sketch_detail.hpp"

namespace nearlinear::sketch_detail {

namespace {

/// A 32-bit integer hash with strong avalanche (the "lowbias32" constants of C. Wellons);
/// 32-bit multiplies keep it vectorisable on any x86-64 SIMD level.
inline std::uint32_t hash32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

constexpr Index kBlockColumns = 256;

}  // namespace

template <typename T>
void gaussian_column(const SketchSpec& spec, Index j, T* out) {
  const std::uint64_t word = rng::hash(kind_seed(spec), 2, static_cast<std::uint64_t>(j));
  const auto key1 = static_cast<std::uint32_t>(word);
  const auto key2 = static_cast<std::uint32_t>(word >> 32);
  const Index m = spec.m, half = (m + 1) / 2;
  constexpr Index kChunk = 256;
  Eigen::Array<float, kChunk, 1> u1, u2, radius, angle;
  // Box-Muller: (sqrt(-2 ln u1) cos(2 pi u2), sqrt(-2 ln u1) sin(2 pi u2)) fill the first and
  // second halves of the column. u1 in (0, 1) (never 0), 24-bit uniforms.
  for (Index t0 = 0; t0 < half; t0 += kChunk) {
    const Index len = std::min(kChunk, half - t0);
    for (Index i = 0; i < len; ++i) {
      const auto t = static_cast<std::uint32_t>(t0 + i);
      u1[i] = (static_cast<float>(hash32(key1 + t) >> 8) + 0.5f) * 0x1.0p-24f;
      u2[i] = static_cast<float>(hash32(key2 + t) >> 8) * 0x1.0p-24f;
    }
    radius.head(len) = (-2.0f * u1.head(len).log()).sqrt();
    angle.head(len) = 6.28318530717958647692f * u2.head(len);
    u1.head(len) = radius.head(len) * angle.head(len).cos();
    u2.head(len) = radius.head(len) * angle.head(len).sin();
    for (Index i = 0; i < len; ++i) out[t0 + i] = static_cast<T>(u1[i]);
    const Index second = std::min(len, m - half - t0);
    for (Index i = 0; i < second; ++i) out[half + t0 + i] = static_cast<T>(u2[i]);
  }
}

template <typename T>
RowMatrix<T> apply_gaussian(const SketchSpec& spec, const DataView<T>& A) {
  using Layout = typename DataView<T>::Layout;
  const Index n = A.rows, d = A.cols, m = spec.m;
  const TaskPlan plan = make_plan(n, d, m, d, kBlockColumns, kBlockColumns, sizeof(T));
  RowMatrix<T> out = run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index, Index, T* o,
                                                    Index ld) {
    Eigen::Map<RowMatrix<T>, 0, Eigen::OuterStride<>> O(o, m, d, Eigen::OuterStride<>(ld));
    ColMatrix<T> S(m, kBlockColumns);
    RowMatrix<T> tile;
    for (Index b0 = i0; b0 < i1; b0 += kBlockColumns) {
      const Index len = std::min(kBlockColumns, i1 - b0);
      for (Index j = 0; j < len; ++j) gaussian_column(spec, b0 + j, S.col(j).data());
      if (A.layout == Layout::RowMajor) {
        Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>> block(
            A.dense + b0 * A.ld, len, d, Eigen::OuterStride<>(A.ld));
        O.noalias() += S.leftCols(len) * block;
      } else if (A.layout == Layout::ColMajor) {
        Eigen::Map<const ColMatrix<T>, 0, Eigen::OuterStride<>> block(
            A.dense + b0, len, d, Eigen::OuterStride<>(A.ld));
        O.noalias() += S.leftCols(len) * block;
      } else {
        tile.resize(len, d);
        load_tile(A, b0, b0 + len, 0, d, tile.data(), d, NoSign{});
        O.noalias() += S.leftCols(len) * tile;
      }
    }
  });
  out *= static_cast<T>(1.0 / std::sqrt(static_cast<double>(m)));
  return out;
}

template void gaussian_column(const SketchSpec&, Index, float*);
template void gaussian_column(const SketchSpec&, Index, double*);
template RowMatrix<float> apply_gaussian(const SketchSpec&, const DataView<float>&);
template RowMatrix<double> apply_gaussian(const SketchSpec&, const DataView<double>&);

}  // namespace nearlinear::sketch_detail

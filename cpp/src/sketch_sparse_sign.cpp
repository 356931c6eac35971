// Sparse sign sketch (CountSketch for s = 1): S A = (1/sqrt(s)) sum_j sum_k (+-1) e_{r_jk} A[j, :].
// Each row of A is added to (or subtracted from) s rows of the output; the 1/sqrt(s) scale is
// applied once at the end. Cost O(s nnz(A)) plus O(s n) to draw S.
#include <cmath>
#include <vector>

#include "sketch_detail.hpp"

namespace nearlinear::sketch_detail {

namespace {

constexpr std::uint32_t kRowMask = 0x7fffffffu;

/// out[r, :w] +-= a[:w] for each of the s codes.
template <typename T>
inline void scatter_row(const std::uint32_t* codes, Index s, const T* __restrict a, Index w,
                        T* out, Index ld) {
  for (Index k = 0; k < s; ++k) {
    T* __restrict o = out + static_cast<Index>(codes[k] & kRowMask) * ld;
    if (codes[k] >> 31) {
#pragma omp simd
      for (Index c = 0; c < w; ++c) o[c] -= a[c];
    } else {
#pragma omp simd
      for (Index c = 0; c < w; ++c) o[c] += a[c];
    }
  }
}

}  // namespace

template <typename T>
RowMatrix<T> apply_sparse_sign(const SketchSpec& spec, const DataView<T>& A) {
  using Layout = typename DataView<T>::Layout;
  const Index n = A.rows, d = A.cols, m = spec.m, s = spec.nnz_per_column;
  const std::vector<std::uint32_t> codes = sparse_sign_codes(spec);
  const std::uint32_t* code = codes.data();
  const Index chunk_elems = 512 / static_cast<Index>(sizeof(T));  // keeps m x chunk in L2
  RowMatrix<T> out;
  switch (A.layout) {
    case Layout::RowMajor: {
      const TaskPlan plan = make_plan(n, d, m, chunk_elems, 1, 4096, sizeof(T));
      out = run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index c0, Index c1, T* o, Index ld) {
        for (Index i = i0; i < i1; ++i)
          scatter_row(code + i * s, s, A.dense + i * A.ld + c0, c1 - c0, o, ld);
      });
      break;
    }
    case Layout::ColMajor: {
      // Transpose tiles of rows into a row-major buffer, then scatter whole tile rows.
      const Index tile_rows = 256;
      const TaskPlan plan = make_plan(n, d, m, chunk_elems, tile_rows, 4096, sizeof(T));
      out = run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index c0, Index c1, T* o, Index ld) {
        const Index w = c1 - c0;
        std::vector<T> tile(static_cast<std::size_t>(tile_rows * w));
        for (Index t0 = i0; t0 < i1; t0 += tile_rows) {
          const Index t1 = std::min(i1, t0 + tile_rows);
          load_tile(A, t0, t1, c0, c1, tile.data(), NoSign{});
          for (Index i = t0; i < t1; ++i)
            scatter_row(code + i * s, s, tile.data() + (i - t0) * w, w, o, ld);
        }
      });
      break;
    }
    case Layout::Csr: {
      const SparseView<T>& S = A.sparse;
      const TaskPlan plan = make_plan(n, d, m, d, 1, 4096, sizeof(T));
      out = run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index c0, Index c1, T* o, Index ld) {
        for (Index i = i0; i < i1; ++i) {
          const std::uint32_t* ci = code + i * s;
          for (std::int64_t p = S.indptr[i]; p < S.indptr[i + 1]; ++p) {
            const Index c = S.indices[p];
            if (c < c0 || c >= c1) continue;
            const T v = S.data[p];
            for (Index k = 0; k < s; ++k) {
              T& target = o[static_cast<Index>(ci[k] & kRowMask) * ld + (c - c0)];
              target += (ci[k] >> 31) ? -v : v;
            }
          }
        }
      });
      break;
    }
    case Layout::Csc: {
      const SparseView<T>& S = A.sparse;
      const TaskPlan plan = make_plan(n, d, m, 16, 1, 4096, sizeof(T));
      out = run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index c0, Index c1, T* o, Index ld) {
        for (Index c = c0; c < c1; ++c) {
          const std::int64_t* begin = S.indices + S.indptr[c];
          const std::int64_t* end = S.indices + S.indptr[c + 1];
          for (const std::int64_t* q = std::lower_bound(begin, end, i0); q != end && *q < i1;
               ++q) {
            const std::uint32_t* ci = code + *q * s;
            const T v = S.data[q - S.indices];
            for (Index k = 0; k < s; ++k) {
              T& target = o[static_cast<Index>(ci[k] & kRowMask) * ld + (c - c0)];
              target += (ci[k] >> 31) ? -v : v;
            }
          }
        }
      });
      break;
    }
  }
  if (s > 1) out *= static_cast<T>(1.0 / std::sqrt(static_cast<double>(s)));
  return out;
}

template RowMatrix<float> apply_sparse_sign(const SketchSpec&, const DataView<float>&);
template RowMatrix<double> apply_sparse_sign(const SketchSpec&, const DataView<double>&);

}  // namespace nearlinear::sketch_detail

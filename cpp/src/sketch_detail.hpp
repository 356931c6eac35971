// Private helpers shared by the sketch kernels (sketch_*.cpp): a uniform view of the input
// layouts, the task driver that makes results independent of the thread count, and the
// random structure of each kind of S. Not part of the public interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "nearlinear/common.hpp"
#include "nearlinear/memory.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/sketch.hpp"

namespace nearlinear::sketch_detail {

/// Scratch tags: run_plan's task buffers, and the kernels' tiles (live inside a task).
struct PlanScratch {};
struct TileScratch {};

/// The data A (#n by #d) in one of the four layouts the sketches accept.
template <typename T>
struct DataView {
  enum class Layout { RowMajor, ColMajor, Csr, Csc };
  Layout layout = Layout::RowMajor;
  Index rows = 0;
  Index cols = 0;
  const T* dense = nullptr;  // dense layouts: element (i, c) at dense[i * ld + c] (row-major)
  Index ld = 0;              //   or dense[c * ld + i] (column-major)
  SparseView<T> sparse;      // sparse layouts

  bool is_dense() const { return layout == Layout::RowMajor || layout == Layout::ColMajor; }
};

/// Copy rows [i0, i1) and columns [c0, c1) of A, multiplied by row_sign(i), into columns
/// [0, c1 - c0) of the row-major `tile` with row stride ld; rows past A's end are zero.
/// Columns from c1 - c0 to ld are left alone. CSC is read through one binary search per column.
/// The tile's type C may be narrower than A's (values rounded as they are copied).
template <typename T, typename C, typename RowSign>
void load_tile(const DataView<T>& A, Index i0, Index i1, Index c0, Index c1, C* tile, Index ld,
               RowSign&& row_sign);

/// Copy rows [i0, i1) of A, multiplied by row_sign(i), into `tile` in chunk-major layout:
/// columns [kW, kW + W) go to the row-major block tile + k * tile_rows * W (row stride W).
/// A is read in its storage order (whole rows of a row-major A or CSR, column runs
/// otherwise); rows past A's end are zero; padding columns past A's last are left alone.
/// The tile's type C may be narrower than A's (values rounded as they are copied).
template <typename T, typename C, typename RowSign>
void load_chunked(const DataView<T>& A, Index i0, Index i1, Index W, C* tile, Index tile_rows,
                  RowSign&& row_sign);

/// A constant row sign of 1, for load_tile without signs.
struct NoSign {
  template <typename I>
  constexpr double operator()(I) const { return 1.0; }
};

/// How a sketch's work is split into tasks: the rows of A into `groups` contiguous ranges of
/// whole `align`-row blocks, the columns into chunks of `chunk`. Each (group, chunk) task
/// accumulates into its own buffer and the groups are summed in order, so, as the plan depends
/// only on the problem's sizes, the result is the same on any number of threads.
struct TaskPlan {
  Index groups = 1;
  Index chunk = 1;
  Index align = 1;
  Index pad = 0;  ///< task buffers are chunk-major with inner chunks of `pad` columns (0: chunk)
};

/// A plan for `rows` rows (a multiple of align) and d columns with column chunks of `chunk`:
/// enough groups for about `target_tasks` tasks, at most one group per `min_rows` rows or
/// per ~2^16 values of A, and task buffers of at most ~64 MiB in all.
TaskPlan make_plan(Index rows, Index d, Index m, Index chunk, Index align, Index min_rows,
                   std::size_t elem_size, Index target_tasks = 8);

/// Run kernel(i0, i1, c0, c1, out, W) over every (row group, column chunk) of `plan`: the
/// kernel adds S[:, i0:i1] A[i0:i1, c0:c1] to the zeroed buffer `out`, which holds columns
/// [c0, c1) chunk-major: columns [c0 + kW, c0 + kW + W) are the contiguous #m by W row-major
/// block out + k m W (W = plan.pad, or c1 - c0 rounded up when pad is 0; columns past c1 are
/// padding). Returns the #m by #d sum over the groups, added in group order.
/// Buffers come from per-thread scratch memory kept between calls (up to a bound), so
/// repeated sketches do not pay for fresh pages.
template <typename T, typename Kernel>
RowMatrix<T> run_plan(const TaskPlan& plan, Index rows, Index m, Index d, Kernel&& kernel);

// ---- the random structure of each kind (pure functions of the spec) ----

/// The s distinct rows of column j of a sparse sign sketch, each with its sign in the top
/// bit: row | (negative << 31). Floyd's sampling algorithm (Bentley & Floyd 1987); whether a
/// draw was taken is found by scanning the earlier ones for s <= scan_max, else in a hash set
/// (the same rows either way: scan_max only chooses the cost, O(s^2) or O(s)).
constexpr Index kSparseSignScanMax = 64;
void sparse_sign_column(const SketchSpec& spec, Index j, std::uint32_t* out,
                        Index scan_max = kSparseSignScanMax);

/// sparse_sign_column for every j in [0, n), in parallel: n * s codes.
std::vector<std::uint32_t> sparse_sign_codes(const SketchSpec& spec);

/// The SRHT's m sampled rows of H (distinct, ascending, in [0, N)).
std::vector<Index> srht_rows(const SketchSpec& spec);

/// The SRHT's block size B: the power of two at or above m within [64, 8192], at most N. The
/// transform is applied to blocks of B rows (log2 B butterflies), each added into the m rows.
Index srht_block_size(Index N, Index m);

/// The SRHT's sign of row i of A: +1 or -1.
double srht_sign(const SketchSpec& spec, Index i);

/// Column j of the unscaled Gaussian sketch (i.i.d. N(0, 1), #m values), generated with
/// vectorised Box-Muller in single precision from a counter-based 32-bit hash.
template <typename T>
void gaussian_column(const SketchSpec& spec, Index j, T* out);

/// M in precision C: moved when it already is.
template <typename C, typename T>
RowMatrix<C> in_precision(RowMatrix<T>&& M) {
  if constexpr (std::is_same_v<C, T>) {
    return std::move(M);
  } else {
    return M.template cast<C>();
  }
}

/// A^T V formed by a sketch kernel from its own read of A (sketch_dense's fused form): V is
/// #n by #k, row-major with row stride ld, k <= kMaxFusedColumns. A kernel that forms it sets
/// `out` (#d by #k); one that does not leaves it empty.
struct SideProduct {
  const double* v = nullptr;
  Index k = 0;
  Index ld = 0;
  RowMatrix<double> out;
};

// ---- kernels, one per kind (sketch_<kind>.cpp) ----
/// C: the precision of the sums where the column panels run (A's values are rounded to it as
/// they are read); elsewhere the sums run in T and the result is rounded to C.
template <typename T, typename C = T>
RowMatrix<C> apply_sparse_sign(const SketchSpec& spec, const DataView<T>& A,
                               SideProduct* side = nullptr);
/// C: the precision of the transform (A's values are rounded to it as they are read).
template <typename T, typename C = T>
RowMatrix<C> apply_srht(const SketchSpec& spec, const DataView<T>& A);
template <typename T>
RowMatrix<T> apply_gaussian(const SketchSpec& spec, const DataView<T>& A);

/// The seed of one kind's random structure, so that kinds sharing a seed are independent.
inline std::uint64_t kind_seed(const SketchSpec& spec) {
  return spec.seed ^ (0x5bd1e9955bd1e995ULL * (static_cast<std::uint64_t>(spec.kind) + 1));
}

// ---- template definitions ----

template <typename T, typename C, typename RowSign>
void load_tile(const DataView<T>& A, Index i0, Index i1, Index c0, Index c1, C* tile, Index ld,
               RowSign&& row_sign) {
  using Layout = typename DataView<T>::Layout;
  const Index w = c1 - c0;
  const Index last = std::max(i0, std::min(i1, A.rows));
  auto zero_rows = [&](Index r0, Index r1) {
    for (Index i = r0; i < r1; ++i) std::fill(tile + (i - i0) * ld, tile + (i - i0) * ld + w, C(0));
  };
  if (A.layout == Layout::RowMajor) {
    for (Index i = i0; i < last; ++i) {
      const T sign = static_cast<T>(row_sign(i));
      const T* __restrict src = A.dense + i * A.ld + c0;
      C* __restrict dst = tile + (i - i0) * ld;
      for (Index c = 0; c < w; ++c) dst[c] = static_cast<C>(sign * src[c]);
    }
  } else if (A.layout == Layout::ColMajor) {
    // Read each column's run of rows contiguously; the tile rows are cache-resident.
    const Index rows = last - i0;
    if constexpr (std::is_same_v<std::decay_t<RowSign>, NoSign>) {
      // Four columns at a time, so that each tile row gets 32 contiguous bytes per sweep.
      Index c = 0;
      for (; c + 4 <= w; c += 4) {
        const T* s0 = A.dense + (c0 + c) * A.ld + i0;
        const T* s1 = s0 + A.ld;
        const T* s2 = s1 + A.ld;
        const T* s3 = s2 + A.ld;
        for (Index i = 0; i < rows; ++i) {
          C* dst = tile + i * ld + c;
          dst[0] = static_cast<C>(s0[i]);
          dst[1] = static_cast<C>(s1[i]);
          dst[2] = static_cast<C>(s2[i]);
          dst[3] = static_cast<C>(s3[i]);
        }
      }
      for (; c < w; ++c) {
        const T* src = A.dense + (c0 + c) * A.ld + i0;
        for (Index i = 0; i < rows; ++i) tile[i * ld + c] = static_cast<C>(src[i]);
      }
    } else {
      std::vector<T> signs(static_cast<std::size_t>(rows));
      for (Index i = i0; i < last; ++i) signs[i - i0] = static_cast<T>(row_sign(i));
      for (Index c = 0; c < w; ++c) {
        const T* __restrict src = A.dense + (c0 + c) * A.ld + i0;
        for (Index i = 0; i < rows; ++i) tile[i * ld + c] = static_cast<C>(signs[i] * src[i]);
      }
    }
  } else {
    zero_rows(i0, last);
    const SparseView<T>& S = A.sparse;
    if (A.layout == Layout::Csr) {
      for (Index i = i0; i < last; ++i) {
        const T sign = static_cast<T>(row_sign(i));
        C* dst = tile + (i - i0) * ld;
        for (std::int64_t p = S.indptr[i]; p < S.indptr[i + 1]; ++p) {
          const Index c = S.indices[p];
          if (c >= c0 && c < c1) dst[c - c0] = static_cast<C>(sign * S.data[p]);
        }
      }
    } else {
      for (Index c = c0; c < c1; ++c) {
        const std::int64_t* begin = S.indices + S.indptr[c];
        const std::int64_t* end = S.indices + S.indptr[c + 1];
        for (const std::int64_t* q = std::lower_bound(begin, end, i0); q != end && *q < last;
             ++q) {
          const Index i = *q;
          tile[(i - i0) * ld + (c - c0)] =
              static_cast<C>(static_cast<T>(row_sign(i)) * S.data[q - S.indices]);
        }
      }
    }
  }
  zero_rows(last, i1);
}

template <typename T, typename C, typename RowSign>
void load_chunked(const DataView<T>& A, Index i0, Index i1, Index W, C* tile, Index tile_rows,
                  RowSign&& row_sign) {
  using Layout = typename DataView<T>::Layout;
  const Index d = A.cols, chunks = (d + W - 1) / W;
  if (A.layout == Layout::ColMajor || A.layout == Layout::Csc) {
    for (Index k = 0; k < chunks; ++k)
      load_tile(A, i0, i1, k * W, std::min(d, k * W + W), tile + k * tile_rows * W, W, row_sign);
    return;
  }
  const Index last = std::max(i0, std::min(i1, A.rows));
  for (Index k = 0; k < chunks; ++k) {
    const Index w = std::min(W, d - k * W);
    C* block = tile + k * tile_rows * W;
    const Index zero_from = A.layout == Layout::Csr ? i0 : last;
    for (Index i = zero_from; i < i1; ++i) std::fill(block + (i - i0) * W, block + (i - i0) * W + w, C(0));
  }
  if (A.layout == Layout::RowMajor) {
    for (Index i = i0; i < last; ++i) {
      const T sign = static_cast<T>(row_sign(i));
      const T* __restrict src = A.dense + i * A.ld;
      for (Index k = 0; k < chunks; ++k) {
        const Index w = std::min(W, d - k * W);
        C* __restrict dst = tile + k * tile_rows * W + (i - i0) * W;
        for (Index c = 0; c < w; ++c) dst[c] = static_cast<C>(sign * src[k * W + c]);
      }
    }
  } else {
    const SparseView<T>& S = A.sparse;
    for (Index i = i0; i < last; ++i) {
      const T sign = static_cast<T>(row_sign(i));
      for (std::int64_t p = S.indptr[i]; p < S.indptr[i + 1]; ++p) {
        const Index c = S.indices[p];
        tile[(c / W) * tile_rows * W + (i - i0) * W + c % W] = static_cast<C>(sign * S.data[p]);
      }
    }
  }
}

template <typename T, typename Kernel>
RowMatrix<T> run_plan(const TaskPlan& plan, Index rows, Index m, Index d, Kernel&& kernel) {
  const Index chunks = (d + plan.chunk - 1) / plan.chunk;
  const Index W = plan.pad > 0 ? plan.pad : plan.chunk;
  const Index inner = (plan.chunk + W - 1) / W;  // inner chunks per column chunk
  const Index task_size = inner * m * W;
  const Index blocks = (rows + plan.align - 1) / plan.align;
  const Index per_group = (blocks + plan.groups - 1) / plan.groups * plan.align;
  const Index groups = (rows + per_group - 1) / per_group;
  // Each task accumulates into its own compact buffer: a chunk of a wider output would put
  // its rows d apart, and power-of-two strides map them onto few cache sets.
  ThreadScratch<T, PlanScratch> buffers(static_cast<std::size_t>(groups * chunks * task_size));
  T* base = buffers.data();
  parallel_for(
      0, groups * chunks,
      [&](std::int64_t task) {
        const Index g = task / chunks, k = task % chunks;
        const Index i0 = g * per_group, i1 = std::min(rows, i0 + per_group);
        const Index c0 = k * plan.chunk, c1 = std::min(d, c0 + plan.chunk);
        T* buffer = base + task * task_size;
        std::fill(buffer, buffer + task_size, T(0));
        kernel(i0, i1, c0, c1, buffer, W);
      },
      Schedule::Dynamic, 1);
  RowMatrix<T> out(m, d);
  advise_huge_pages(out);
  parallel_for(0, chunks, [&](std::int64_t k) {
    for (Index q = 0; q < inner; ++q) {
      const Index c0 = k * plan.chunk + q * W;
      if (c0 >= d) break;
      const Index w = std::min({W, d - c0, (k + 1) * plan.chunk - c0});
      for (Index r = 0; r < m; ++r) {
        T* dst = out.data() + r * d + c0;
        const T* src = base + k * task_size + (q * m + r) * W;
        std::copy_n(src, w, dst);
        for (Index g = 1; g < groups; ++g) {
          const T* more = base + (g * chunks + k) * task_size + (q * m + r) * W;
          for (Index c = 0; c < w; ++c) dst[c] += more[c];
        }
      }
    }
  });
  return out;
}

}  // namespace nearlinear::sketch_detail

// The sketch operators' entry points: validation, dispatch by kind, the explicit matrix S,
// and the random structure shared by the fast kernels and sketch_matrix.
#include "nearlinear/sketch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <unordered_set>

#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"
#include "nearlinear/sparse_structure.hpp"
#include "sketch_detail.hpp"

namespace nearlinear {

using namespace sketch_detail;

namespace {

template <typename T>
bool all_finite(const DataView<T>& A) {
  if (A.is_dense()) {
    const Index outer = A.layout == DataView<T>::Layout::RowMajor ? A.rows : A.cols;
    const Index inner = A.layout == DataView<T>::Layout::RowMajor ? A.cols : A.rows;
    for (Index o = 0; o < outer; ++o) {
      const T* p = A.dense + o * A.ld;
      for (Index i = 0; i < inner; ++i)
        if (!std::isfinite(p[i])) return false;
    }
    return true;
  }
  const Index nnz = A.sparse.nnz();
  for (Index p = 0; p < nnz; ++p)
    if (!std::isfinite(A.sparse.data[p])) return false;
  return true;
}

/// S A in precision C (the srht transforms in C, the sparse sign sketch's column panels sum
/// in C; otherwise the sums run in T and the result is rounded).
template <typename T, typename C = T>
RowMatrix<C> apply(const SketchSpec& spec, const DataView<T>& A, SideProduct* side = nullptr) {
  validate_sketch(spec);
  NL_CHECK(A.rows == spec.n, "A must have n = " << spec.n << " rows (the sketch's column count); got "
                                                << A.rows);
  NL_CHECK(A.cols >= 1, "A must have at least one column; got shape (" << A.rows << ", "
                                                                        << A.cols << ")");
  RowMatrix<C> out;
  switch (spec.kind) {
    case SketchKind::SparseSign: out = apply_sparse_sign<T, C>(spec, A, side); break;
    case SketchKind::SRHT: out = apply_srht<T, C>(spec, A); break;
    case SketchKind::Gaussian: out = in_precision<C>(apply_gaussian(spec, A)); break;
  }
  // Every entry of A reaches some entry of S A with a nonzero (or, for the Gaussian, almost
  // surely nonzero; inf * 0 is NaN anyway) coefficient, so NaN/inf in A always shows in the
  // result: checking the small result costs nothing on valid data, and only a non-finite
  // result (NaN/inf in A, or overflow) pays for a scan of A.
  if (!out.allFinite()) NL_CHECK(all_finite(A), "`A` must not contain NaN or inf");
  return out;
}

}  // namespace

Index srht_padded_size(Index n) {
  NL_CHECK(n >= 1 && n <= (Index(1) << 40), "n must be in [1, 2^40]; got " << n);
  Index N = 1;
  while (N < n) N *= 2;
  return N;
}

void validate_sketch(const SketchSpec& spec) {
  NL_CHECK(spec.kind == SketchKind::SparseSign || spec.kind == SketchKind::SRHT ||
               spec.kind == SketchKind::Gaussian,
           "unknown sketch kind " << static_cast<int>(spec.kind));
  NL_CHECK(spec.m >= 1, "m must be a positive integer; got " << spec.m);
  NL_CHECK(spec.m <= std::numeric_limits<std::int32_t>::max(),
           "m must be below 2^31; got " << spec.m);
  NL_CHECK(spec.n >= 1, "n must be a positive integer; got " << spec.n);
  NL_CHECK(spec.n <= (Index(1) << 40), "n must be at most 2^40; got " << spec.n);
  if (spec.kind == SketchKind::SparseSign)
    NL_CHECK(spec.nnz_per_column >= 1 && spec.nnz_per_column <= spec.m,
             "nnz_per_column must be in [1, m] = [1, " << spec.m << "]; got "
                                                       << spec.nnz_per_column);
  if (spec.kind == SketchKind::SRHT)
    NL_CHECK(spec.m <= srht_padded_size(spec.n),
             "m must be at most the padded row count " << srht_padded_size(spec.n)
                                                       << " of an srht sketch; got " << spec.m);
}

template <typename T>
DataView<T> dense_view(typename DataView<T>::Layout layout, Index rows, Index cols,
                       const T* data, Index ld) {
  DataView<T> view;
  view.layout = layout;
  view.rows = rows;
  view.cols = cols;
  view.dense = data;
  view.ld = ld;
  return view;
}

/// A dense matrix's view, in its storage order.
template <typename T>
DataView<T> view_of(const ConstRowMatrixRef<T>& A) {
  return dense_view<T>(DataView<T>::Layout::RowMajor, A.rows(), A.cols(), A.data(),
                       A.outerStride());
}
template <typename T>
DataView<T> view_of(const ConstColMatrixRef<T>& A) {
  return dense_view<T>(DataView<T>::Layout::ColMajor, A.rows(), A.cols(), A.data(),
                       A.outerStride());
}

template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const ConstRowMatrixRef<T>& A) {
  return apply(spec, view_of(A));
}

template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const ConstColMatrixRef<T>& A) {
  return apply(spec, view_of(A));
}

/// sketch_dense_fused for either layout, in precision C.
template <typename C, typename T, typename MatrixRef>
RowMatrix<C> apply_fused(const SketchSpec& spec, const MatrixRef& A,
                         const ConstRowMatrixRef<double>& V, RowMatrix<double>& ATV) {
  NL_CHECK(V.rows() == A.rows(), "V must have the " << A.rows() << " rows of A; got " << V.rows());
  SideProduct side;
  side.v = V.data();
  side.k = V.cols();
  side.ld = V.outerStride();
  RowMatrix<C> out = apply<T, C>(spec, view_of(A), &side);
  ATV = std::move(side.out);
  return out;
}

template <typename T>
RowMatrix<T> sketch_dense_fused(const SketchSpec& spec, const ConstRowMatrixRef<T>& A,
                                const ConstRowMatrixRef<double>& V, RowMatrix<double>& ATV) {
  return apply_fused<T, T>(spec, A, V, ATV);
}

template <typename T>
RowMatrix<T> sketch_dense_fused(const SketchSpec& spec, const ConstColMatrixRef<T>& A,
                                const ConstRowMatrixRef<double>& V, RowMatrix<double>& ATV) {
  return apply_fused<T, T>(spec, A, V, ATV);
}

RowMatrix<float> sketch_dense_single_fused(const SketchSpec& spec,
                                           const ConstRowMatrixRef<double>& A,
                                           const ConstRowMatrixRef<double>& V,
                                           RowMatrix<double>& ATV) {
  return apply_fused<float, double>(spec, A, V, ATV);
}

RowMatrix<float> sketch_dense_single_fused(const SketchSpec& spec,
                                           const ConstColMatrixRef<double>& A,
                                           const ConstRowMatrixRef<double>& V,
                                           RowMatrix<double>& ATV) {
  return apply_fused<float, double>(spec, A, V, ATV);
}

RowMatrix<float> sketch_dense_single(const SketchSpec& spec, const ConstRowMatrixRef<double>& A) {
  return apply<double, float>(spec, view_of(A));
}

RowMatrix<float> sketch_dense_single(const SketchSpec& spec, const ConstColMatrixRef<double>& A) {
  return apply<double, float>(spec, view_of(A));
}

template <typename T>
RowMatrix<T> sketch_sparse(const SketchSpec& spec, const SparseView<T>& A) {
  check_sparse_structure(A, /*sorted=*/true);
  DataView<T> view;
  view.layout = A.row_major ? DataView<T>::Layout::Csr : DataView<T>::Layout::Csc;
  view.rows = A.rows;
  view.cols = A.cols;
  view.sparse = A;
  return apply(spec, view);
}

RowMatrix<double> sketch_matrix(const SketchSpec& spec) {
  validate_sketch(spec);
  const Index m = spec.m, n = spec.n;
  RowMatrix<double> S = RowMatrix<double>::Zero(m, n);
  switch (spec.kind) {
    case SketchKind::SparseSign: {
      const double value = 1.0 / std::sqrt(static_cast<double>(spec.nnz_per_column));
      std::vector<std::uint32_t> codes(spec.nnz_per_column);
      for (Index j = 0; j < n; ++j) {
        sparse_sign_column(spec, j, codes.data());
        for (std::uint32_t code : codes)
          S(code & 0x7fffffffu, j) = (code >> 31) ? -value : value;
      }
      break;
    }
    case SketchKind::SRHT: {
      // S = sqrt(N/m) P H D with H = H_N / sqrt(N): entry (t, j) = d_j (-1)^popcount(k_t & j)
      // / sqrt(m), written from the definition (independently of the fast transform).
      const std::vector<Index> rows = srht_rows(spec);
      const double scale = 1.0 / std::sqrt(static_cast<double>(m));
      for (Index j = 0; j < n; ++j) {
        const double dj = srht_sign(spec, j) * scale;
        for (Index t = 0; t < m; ++t)
          S(t, j) = __builtin_parityll(static_cast<unsigned long long>(rows[t] & j)) ? -dj : dj;
      }
      break;
    }
    case SketchKind::Gaussian: {
      const double scale = 1.0 / std::sqrt(static_cast<double>(m));
      std::vector<double> column(m);
      for (Index j = 0; j < n; ++j) {
        gaussian_column(spec, j, column.data());
        for (Index t = 0; t < m; ++t) S(t, j) = scale * column[t];
      }
      break;
    }
  }
  return S;
}

// ---- random structure ----

namespace sketch_detail {

TaskPlan make_plan(Index rows, Index d, Index m, Index chunk, Index align, Index min_rows,
                   std::size_t elem_size, Index target_tasks) {
  TaskPlan plan;
  plan.chunk = std::max<Index>(1, std::min(chunk, d));
  plan.align = std::max<Index>(1, align);
  const Index chunks = (d + plan.chunk - 1) / plan.chunk;
  const Index blocks = (rows + plan.align - 1) / plan.align;
  Index groups = (target_tasks + chunks - 1) / chunks;
  groups = std::min(groups, std::max<Index>(1, rows / std::max<Index>(1, min_rows)));
  groups = std::min(groups, blocks);
  // Tasks smaller than ~2^16 values cost more to hand to a thread than to run.
  const double values = static_cast<double>(rows) * static_cast<double>(d);
  groups = std::min<Index>(groups, std::max<Index>(1, static_cast<Index>(values / (1 << 16))));
  const double bytes = static_cast<double>(m) * static_cast<double>(d) * elem_size;
  groups = std::min<Index>(groups, std::max<Index>(1, static_cast<Index>((64 << 20) / bytes)));
  plan.groups = std::max<Index>(1, groups);
  return plan;
}

void sparse_sign_column(const SketchSpec& spec, Index j, std::uint32_t* out, Index scan_max) {
  const Index s = spec.nnz_per_column, m = spec.m;
  // One mixer call keys the column (its bits are also the first 64 signs), then one call per
  // two 32-bit draws (m < 2^31, so the multiply-shift range reduction has bias below
  // m / 2^32). Drawing S is most of the cost of sketching a single vector.
  const std::uint64_t key = rng::mix64(kind_seed(spec) * 0xbf58476d1ce4e5b9ULL +
                                       static_cast<std::uint64_t>(j) * 0x9e3779b97f4a7c15ULL);
  auto word = [key](Index q) {
    return rng::mix64(key + static_cast<std::uint64_t>(q + 1) * 0xd1342543de82ef95ULL);
  };
  // Floyd: for t = m-s, ..., m-1 draw r uniform in [0, t]; take t if r was already taken.
  const bool large = s > scan_max;
  std::unordered_set<std::uint32_t> seen;
  if (large) seen.reserve(static_cast<std::size_t>(2 * s));
  std::uint64_t draws = 0;
  for (Index k = 0; k < s; ++k) {
    if (k % 2 == 0) draws = word(k / 2);
    const auto u = static_cast<std::uint32_t>(k % 2 == 0 ? draws : draws >> 32);
    const Index t = m - s + k;
    const auto r = static_cast<std::uint32_t>((static_cast<std::uint64_t>(u) * (t + 1)) >> 32);
    bool taken = false;
    if (large) {
      taken = !seen.insert(r).second;
      if (taken) seen.insert(static_cast<std::uint32_t>(t));
    } else {
      for (Index q = 0; q < k; ++q) taken |= (out[q] == r);
    }
    out[k] = taken ? static_cast<std::uint32_t>(t) : r;
  }
  const Index sign_base = (s + 1) / 2;
  std::uint64_t signs = key;
  for (Index k = 0; k < s; ++k) {
    if (k > 0 && k % 64 == 0) signs = word(sign_base + k / 64 - 1);
    out[k] |= static_cast<std::uint32_t>((signs >> (k % 64)) & 1u) << 31;
  }
}

std::vector<std::uint32_t> sparse_sign_codes(const SketchSpec& spec) {
  const Index s = spec.nnz_per_column;
  std::vector<std::uint32_t> codes(static_cast<std::size_t>(spec.n * s));
  const Index block = 4096;
  parallel_for(0, (spec.n + block - 1) / block, [&](std::int64_t b) {
    const Index j1 = std::min(spec.n, (b + 1) * block);
    for (Index j = b * block; j < j1; ++j) sparse_sign_column(spec, j, codes.data() + j * s);
  });
  return codes;
}

std::vector<Index> srht_rows(const SketchSpec& spec) {
  const std::uint64_t seed = kind_seed(spec);
  const Index N = srht_padded_size(spec.n), m = spec.m;
  std::vector<Index> rows;
  rows.reserve(m);
  std::unordered_set<Index> taken;
  taken.reserve(static_cast<std::size_t>(m) * 2);
  for (Index t = N - m; t < N; ++t) {
    Index r = static_cast<Index>(rng::to_range(rng::hash(seed, 1, t), t + 1));
    if (!taken.insert(r).second) {
      r = t;
      taken.insert(r);
    }
    rows.push_back(r);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

double srht_sign(const SketchSpec& spec, Index i) {
  const std::uint64_t word = rng::hash(kind_seed(spec), 0, static_cast<std::uint64_t>(i) / 64);
  return ((word >> (i % 64)) & 1u) ? -1.0 : 1.0;
}

}  // namespace sketch_detail

template RowMatrix<float> sketch_dense(const SketchSpec&, const ConstRowMatrixRef<float>&);
template RowMatrix<double> sketch_dense(const SketchSpec&, const ConstRowMatrixRef<double>&);
template RowMatrix<float> sketch_dense(const SketchSpec&, const ConstColMatrixRef<float>&);
template RowMatrix<double> sketch_dense(const SketchSpec&, const ConstColMatrixRef<double>&);
template RowMatrix<float> sketch_dense_fused(const SketchSpec&, const ConstRowMatrixRef<float>&,
                                             const ConstRowMatrixRef<double>&, RowMatrix<double>&);
template RowMatrix<double> sketch_dense_fused(const SketchSpec&, const ConstRowMatrixRef<double>&,
                                              const ConstRowMatrixRef<double>&, RowMatrix<double>&);
template RowMatrix<float> sketch_dense_fused(const SketchSpec&, const ConstColMatrixRef<float>&,
                                             const ConstRowMatrixRef<double>&, RowMatrix<double>&);
template RowMatrix<double> sketch_dense_fused(const SketchSpec&, const ConstColMatrixRef<double>&,
                                              const ConstRowMatrixRef<double>&, RowMatrix<double>&);
template RowMatrix<float> sketch_sparse(const SketchSpec&, const SparseView<float>&);
template RowMatrix<double> sketch_sparse(const SketchSpec&, const SparseView<double>&);

}  // namespace nearlinear

// Random sketch operators: an m by n random matrix S with E[S^T S] = I, applied to tall data
// A (#n by #d) to give S A (#m by #d), m << n. A shared primitive of nearlinear (least
// squares, completion). S is a pure function of (kind, m, n, seed, nnz_per_column): sketching
// A and b in two calls with the same spec uses the same S, on any number of threads.
#pragma once

#include <cstdint>

#include "nearlinear/common.hpp"

namespace nearlinear {

enum class SketchKind {
  /// Each column of S has s = nnz_per_column nonzeros +-1/sqrt(s) at distinct random rows;
  /// s = 1 is CountSketch (Clarkson-Woodruff). Cost O(s * nnz(A)).
  SparseSign,
  /// Subsampled randomized Hadamard transform: S = sqrt(N/m) P H D with D random signs, H the
  /// orthonormal Walsh-Hadamard transform of order N = next power of two >= n (A zero-padded),
  /// P a uniform sample of m distinct rows. Cost O(N d log N).
  SRHT,
  /// I.i.d. N(0, 1/m) entries generated on the fly, applied in blocks. Cost O(m n d).
  /// The normals are drawn in single precision (Box-Muller on 24-bit uniforms).
  Gaussian,
};

struct SketchSpec {
  SketchKind kind = SketchKind::SparseSign;
  Index m = 0;             ///< rows of S (sketch size)
  Index n = 0;             ///< columns of S (rows of the data)
  std::uint64_t seed = 0;  ///< random seed
  int nnz_per_column = 8;  ///< sparse_sign only: nonzeros per column, 1 <= s <= m
};

/// Throws std::invalid_argument unless m >= 1, n >= 1, 1 <= nnz_per_column <= m for
/// sparse_sign and m <= srht_padded_size(n) for srht (also for an unknown kind, m >= 2^31
/// or n > 2^40).
void validate_sketch(const SketchSpec& spec);

/// The zero-padded row count N = next power of two >= n used by the SRHT.
Index srht_padded_size(Index n);

/// S A for a dense A (#n by #d) in row-major (C) or column-major (Fortran) layout, read in
/// place (never copied whole, never written). Runs on get_num_threads() threads; the result
/// is bitwise the same on any number of threads.
/// @return #m by #d row-major matrix.
/// @throws std::invalid_argument if validate_sketch(spec) does, if A does not have spec.n
///   rows or has no column, or if A holds NaN or inf (found from the result, so this check
///   costs nothing on valid data; a finite A whose sketch overflows is returned as is).
template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const ConstRowMatrixRef<T>& A);
template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const ConstColMatrixRef<T>& A);

/// Unambiguous overloads for plain matrices and vectors (a plain matrix converts to both Refs
/// above); a #n vector is treated as an #n by 1 matrix.
template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const RowMatrix<T>& A) {
  return sketch_dense<T>(spec, ConstRowMatrixRef<T>(A));
}
template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const ColMatrix<T>& A) {
  return sketch_dense<T>(spec, ConstColMatrixRef<T>(A));
}
template <typename T>
RowMatrix<T> sketch_dense(const SketchSpec& spec, const Vector<T>& b) {
  return sketch_dense<T>(spec, ConstColMatrixRef<T>(b));
}

/// The most rows for which the sparse sign sketch of a dense A runs by column panels: each
/// keeps an #m by 64-byte panel of the output in half of L2. Past it the sketch runs
/// several times slower (at 100000 x 1000, the whole precondition solve with m = 18000 took
/// 2.3x the one with m = 16000).
inline constexpr Index kSparseSignPanelRows = Index(1) << 14;

/// Columns of V for which sketch_dense_fused can form A^T V, at most.
constexpr Index kMaxFusedColumns = 2;

/// S A, as sketch_dense, and A^T V (#d by #k, in double) for a #n by #k V from the same read
/// of A, where the sketch can form it: a sparse_sign sketch by column panels (nnz_per_column
/// > 1, m <= 16384, S A above 256 KiB: the path of the solvers' tall A, see
/// sketch_sparse_sign.cpp) and k <= kMaxFusedColumns. Each panel's rows of A pass through
/// registers there anyway, so the products cost no further read of A. Elsewhere ATV is
/// left empty (size 0) and the caller forms A^T V itself. The products are summed in row
/// order within fixed row groups: the same on any number of threads. V is not checked.
template <typename T>
RowMatrix<T> sketch_dense_fused(const SketchSpec& spec, const ConstRowMatrixRef<T>& A,
                                const ConstRowMatrixRef<double>& V, RowMatrix<double>& ATV);
template <typename T>
RowMatrix<T> sketch_dense_fused(const SketchSpec& spec, const ConstColMatrixRef<T>& A,
                                const ConstRowMatrixRef<double>& V, RowMatrix<double>& ATV);

/// S A of a double A computed in single precision. For srht the transform itself runs in
/// float (A's values are rounded as they are read): twice the SIMD width and half the cache
/// traffic of sketch_dense<double>. Each entry of the result is then a sum of +-A's entries
/// (scaled) formed with at most srht_single_rounding_depth(n, m) successive roundings of unit
/// 2^-24 (the load, the butterflies, one accumulation per block of rows, the scaling). The
/// sparse sign sketch's column panels (see sketch_dense_fused) sum in float too, each entry
/// in row order (one rounding per contribution, about s n / m of them, and the scaling);
/// elsewhere the sums run in double and the result is rounded. A finite A whose sums
/// overflow float gives inf there. The same S and errors as sketch_dense.
RowMatrix<float> sketch_dense_single(const SketchSpec& spec, const ConstRowMatrixRef<double>& A);
RowMatrix<float> sketch_dense_single(const SketchSpec& spec, const ConstColMatrixRef<double>& A);

/// sketch_dense_fused of a double A with the sketch in single precision, as
/// sketch_dense_single (A^T V still sums the double values in double).
RowMatrix<float> sketch_dense_single_fused(const SketchSpec& spec,
                                           const ConstRowMatrixRef<double>& A,
                                           const ConstRowMatrixRef<double>& V,
                                           RowMatrix<double>& ATV);
RowMatrix<float> sketch_dense_single_fused(const SketchSpec& spec,
                                           const ConstColMatrixRef<double>& A,
                                           const ConstRowMatrixRef<double>& V,
                                           RowMatrix<double>& ATV);

/// The roundings along each sum of sketch_dense_single's srht for n rows and m samples.
Index srht_single_rounding_depth(Index n, Index m);

/// S A for a sparse CSR or CSC A (#n by #d). @return #m by #d row-major matrix.
/// Same errors as sketch_dense, and also for a malformed structure (indptr not starting at 0
/// or decreasing, indices unsorted, duplicated or out of range).
template <typename T>
RowMatrix<T> sketch_sparse(const SketchSpec& spec, const SparseView<T>& A);

/// S itself as a dense #m by #n matrix (for tests and small problems).
RowMatrix<double> sketch_matrix(const SketchSpec& spec);

}  // namespace nearlinear

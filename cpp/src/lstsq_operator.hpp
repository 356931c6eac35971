// Fused passes over A for the least-squares solvers (private to lstsq*.cpp).
//
// One pass reads A once, row block by row block, and while a block is in cache computes
//   normal pass:    Y = A_blk W,       T += A_blk^T Y,  q += colwise ||Y||^2   (T = A^T A W)
//   residual pass:  Y = B_blk - A_blk X, G += A_blk^T Y, q += colwise ||Y||^2  (G = A^T (B - A X))
// The row blocks are fixed by (n, d, k) alone and their partial sums are added in block
// order, so results do not depend on the thread count. Products accumulate in double.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "nearlinear/common.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear::lstsq_detail {

/// Row blocks of a pass: at most 256, at least 64 rows each, and at most 2^24 doubles of
/// partial sums in all.
struct RowBlocks {
  Index rows_per_block = 0;
  Index count = 0;
  RowBlocks(Index n, Index d, Index k) {
    const Index by_memory = std::max<Index>(1, (Index(1) << 24) / std::max<Index>(1, d * k));
    const Index max_blocks = std::min<Index>(256, by_memory);
    rows_per_block = std::max<Index>(64, (n + max_blocks - 1) / max_blocks);
    count = (n + rows_per_block - 1) / rows_per_block;
  }
};

/// Sum the per-block partials in block order (deterministic).
inline void sum_partials(const std::vector<RowMatrix<double>>& parts,
                         const std::vector<Vector<double>>& sq, RowMatrix<double>& out,
                         Vector<double>& sq_out) {
  out.setZero();
  sq_out.setZero();
  for (std::size_t b = 0; b < parts.size(); ++b) {
    out += parts[b];
    sq_out += sq[b];
  }
}

/// Dense A in either layout (MatrixRef = ConstRowMatrixRef<T> or ConstColMatrixRef<T>).
template <typename T, typename MatrixRef>
class DenseOperator {
 public:
  explicit DenseOperator(const MatrixRef& A) : A_(A) {}
  Index rows() const { return A_.rows(); }
  Index cols() const { return A_.cols(); }

  /// T = A^T A W and q_j = ||A W_j||^2 (W: #d by #k).
  void normal(const RowMatrix<double>& W, RowMatrix<double>& out, Vector<double>& q) const {
    pass(W, nullptr, out, q);
  }
  /// G = A^T (B - A X) and q_j = ||B_j - A X_j||^2.
  void residual(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                RowMatrix<double>& out, Vector<double>& q) const {
    pass(X, &B, out, q);
  }

 private:
  void pass(const RowMatrix<double>& W, const ConstRowMatrixRef<double>* B,
            RowMatrix<double>& out, Vector<double>& q) const {
    const Index n = A_.rows(), d = A_.cols(), k = W.cols();
    const RowBlocks blocks(n, d, k);
    // Sub-blocks of about 256 KiB of A keep the second product in cache.
    const Index sub_rows = std::max<Index>(8, 32768 / std::max<Index>(1, d));
    std::vector<RowMatrix<double>> parts(blocks.count);
    std::vector<Vector<double>> sq(blocks.count);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> s = Vector<double>::Zero(k);
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      if constexpr (kRowMajor) {
        if (k == 1) {  // one right-hand side: each row read once, reused from L1
          single_rhs_rows(begin, end, W, B, acc, s[0]);
          parts[b] = std::move(acc);
          sq[b] = std::move(s);
          return;
        }
      }
      RowMatrix<double> Y, widened;
      for (Index r0 = begin; r0 < end; r0 += sub_rows) {
        const Index len = std::min(sub_rows, end - r0);
        auto step = [&](const auto& Ablk) {
          Y.noalias() = Ablk * W;
          if (B) Y = B->middleRows(r0, len) - Y;
          s += Y.colwise().squaredNorm().transpose();
          acc.noalias() += Ablk.transpose() * Y;
        };
        if constexpr (std::is_same_v<T, double>) {
          step(A_.middleRows(r0, len));
        } else {
          widened = A_.middleRows(r0, len).template cast<double>();
          step(widened);
        }
      }
      parts[b] = std::move(acc);
      sq[b] = std::move(s);
    });
    out.resize(d, k);
    q.resize(k);
    sum_partials(parts, sq, out, q);
  }

  static constexpr bool kRowMajor = std::is_same_v<MatrixRef, ConstRowMatrixRef<T>>;

  /// Rows [begin, end) of the pass for k = 1: y_i = a_i w (or b_i - a_i w), acc += y_i a_i^T.
  /// A general matrix product would pack the block for a one-column W; a dot product and an
  /// axpy on a row still in L1 stream A at close to memory bandwidth.
  void single_rhs_rows(Index begin, Index end, const RowMatrix<double>& W,
                       const ConstRowMatrixRef<double>* B, RowMatrix<double>& acc,
                       double& sq) const {
    const Index d = A_.cols();
    const Eigen::Map<const Vector<double>> w(W.data(), d);
    Eigen::Map<Vector<double>> a(acc.data(), d);
    double ss = 0.0;
    for (Index i = begin; i < end; ++i) {
      const auto row = A_.row(i).transpose();
      double yi;
      if constexpr (std::is_same_v<T, double>) {
        yi = row.dot(w);
      } else {
        yi = row.template cast<double>().dot(w);
      }
      if (B) yi = (*B)(i, 0) - yi;
      ss += yi * yi;
      if constexpr (std::is_same_v<T, double>) {
        a.noalias() += yi * row;
      } else {
        a.noalias() += yi * row.template cast<double>();
      }
    }
    sq = ss;
  }

  const MatrixRef& A_;
};

/// Sparse A in CSR form (CSC input is converted once by the caller).
template <typename T>
class CsrOperator {
 public:
  explicit CsrOperator(const SparseView<T>& A) : A_(A) {}
  Index rows() const { return A_.rows; }
  Index cols() const { return A_.cols; }

  void normal(const RowMatrix<double>& W, RowMatrix<double>& out, Vector<double>& q) const {
    pass(W, nullptr, out, q);
  }
  void residual(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                RowMatrix<double>& out, Vector<double>& q) const {
    pass(X, &B, out, q);
  }

 private:
  void pass(const RowMatrix<double>& W, const ConstRowMatrixRef<double>* B,
            RowMatrix<double>& out, Vector<double>& q) const {
    const Index n = A_.rows, d = A_.cols, k = W.cols();
    const RowBlocks blocks(n, d, k);
    std::vector<RowMatrix<double>> parts(blocks.count);
    std::vector<Vector<double>> sq(blocks.count);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> s = Vector<double>::Zero(k);
      Vector<double> y(k);
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      if (k == 1) {  // the common case, without per-nonzero vector overhead
        const double* w = W.data();
        double* a = acc.data();
        double ss = 0.0;
        for (Index i = begin; i < end; ++i) {
          const std::int64_t p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
          double yi = 0.0;
          for (std::int64_t p = p0; p < p1; ++p)
            yi += static_cast<double>(A_.data[p]) * w[A_.indices[p]];
          if (B) yi = (*B)(i, 0) - yi;
          ss += yi * yi;
          for (std::int64_t p = p0; p < p1; ++p)
            a[A_.indices[p]] += static_cast<double>(A_.data[p]) * yi;
        }
        s[0] = ss;
        parts[b] = std::move(acc);
        sq[b] = std::move(s);
        return;
      }
      for (Index i = begin; i < end; ++i) {
        const std::int64_t p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
        if (B) {
          y = B->row(i).transpose();
        } else {
          y.setZero();
        }
        const double sign = B ? -1.0 : 1.0;
        for (std::int64_t p = p0; p < p1; ++p)
          y.noalias() += (sign * static_cast<double>(A_.data[p])) * W.row(A_.indices[p]).transpose();
        s += y.cwiseAbs2();
        for (std::int64_t p = p0; p < p1; ++p)
          acc.row(A_.indices[p]).noalias() += static_cast<double>(A_.data[p]) * y.transpose();
      }
      parts[b] = std::move(acc);
      sq[b] = std::move(s);
    });
    out.resize(d, k);
    q.resize(k);
    sum_partials(parts, sq, out, q);
  }

  const SparseView<T>& A_;
};

}  // namespace nearlinear::lstsq_detail

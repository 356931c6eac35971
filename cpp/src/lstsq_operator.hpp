// Fused passes over A for the least-squares solvers (private to lstsq*.cpp).
//
// One pass reads A once, row block by row block, and while a block is in cache computes
//   normal pass:    Y = A_blk W,       T += A_blk^T Y,  q += colwise ||Y||^2   (T = A^T A W)
//   residual pass:  Y = B_blk - A_blk X, G += A_blk^T Y, q += colwise ||Y||^2  (G = A^T (B - A X)),
//                   and optionally c += colwise ||A_blk||^2 (the column norms, for free)
//   norm pass:      q += colwise ||B_blk - A_blk X||^2 (no product with A^T)
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

/// Blocks are handed out dynamically: on a shared machine a thread that loses its core does
/// not hold up the pass while the other waits at the barrier. Partials stay per block, so
/// the result is the same whichever thread computes a block.
constexpr Schedule kSchedule = Schedule::Dynamic;

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
  /// G = A^T (B - A X) and q_j = ||B_j - A X_j||^2; with col_sq, also col_sq_j = ||a_j||^2.
  void residual(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                RowMatrix<double>& out, Vector<double>& q,
                Vector<double>* col_sq = nullptr) const {
    pass(X, &B, out, q, col_sq);
  }
  /// q_j = ||B_j - A X_j||^2 alone: one product with A, none with A^T.
  void residual_norms(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                      Vector<double>& q) const {
    const Index n = A_.rows(), d = A_.cols(), k = X.cols();
    const RowBlocks blocks(n, d, k);
    std::vector<Vector<double>> sq(blocks.count);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      RowMatrix<double> Y;
      sq[b] = Vector<double>::Zero(k);
      for (Index r0 = begin; r0 < end; r0 += kSubRows) {
        const Index len = std::min(kSubRows, end - r0);
        if constexpr (std::is_same_v<T, double>) {
          Y.noalias() = A_.middleRows(r0, len) * X;
        } else {
          Y.noalias() = A_.middleRows(r0, len).template cast<double>() * X;
        }
        sq[b] += (B.middleRows(r0, len) - Y).colwise().squaredNorm().transpose();
      }
    }, kSchedule, 2);
    q = Vector<double>::Zero(k);
    for (const auto& s : sq) q += s;
  }

  /// Whether every entry of A is finite (a parallel scan, for the rare non-finite case).
  bool all_finite() const {
    const RowBlocks blocks(A_.rows(), A_.cols(), 1);
    std::vector<char> ok(blocks.count);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      const Index begin = b * blocks.rows_per_block;
      ok[b] = A_.middleRows(begin, std::min(A_.rows(), begin + blocks.rows_per_block) - begin)
                  .allFinite();
    });
    return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
  }

 private:
  static constexpr Index kSubRows = 256;

  void pass(const RowMatrix<double>& W, const ConstRowMatrixRef<double>* B,
            RowMatrix<double>& out, Vector<double>& q, Vector<double>* col_sq = nullptr) const {
    const Index n = A_.rows(), d = A_.cols(), k = W.cols();
    const RowBlocks blocks(n, d, k);
    // Sub-blocks of about 256 KiB of A keep the second product in cache.
    const Index sub_rows = std::max<Index>(8, 32768 / std::max<Index>(1, d));
    std::vector<RowMatrix<double>> parts(blocks.count);
    std::vector<Vector<double>> sq(blocks.count), csq(col_sq ? blocks.count : 0);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> s = Vector<double>::Zero(k);
      Vector<double> c = Vector<double>::Zero(col_sq ? d : 0);
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      if constexpr (kRowMajor) {
        if (k == 1 && !col_sq) {  // one right-hand side: rows read once, reused from L1
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
          if (col_sq) c += Ablk.colwise().squaredNorm().transpose();
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
      if (col_sq) csq[b] = std::move(c);
    }, kSchedule, 2);
    out.resize(d, k);
    q.resize(k);
    sum_partials(parts, sq, out, q);
    if (col_sq) {
      *col_sq = Vector<double>::Zero(d);
      for (const auto& c : csq) *col_sq += c;
    }
  }

  static constexpr bool kRowMajor = std::is_same_v<MatrixRef, ConstRowMatrixRef<T>>;

  /// Rows [begin, end) of the pass for k = 1: y_i = a_i w (or b_i - a_i w), acc += y_i a_i^T.
  /// A general matrix product would pack the block for a one-column W. Four rows at a time:
  /// four dot products on rows fresh from memory, then one update of acc with all four
  /// (acc is loaded and stored once per four rows instead of once per row).
  void single_rhs_rows(Index begin, Index end, const RowMatrix<double>& W,
                       const ConstRowMatrixRef<double>* B, RowMatrix<double>& acc,
                       double& sq) const {
    const Index d = A_.cols();
    const Eigen::Map<const Vector<double>> w(W.data(), d);
    Eigen::Map<Vector<double>> a(acc.data(), d);
    auto value = [&](Index i, const auto& row) {
      const double y = row.dot(w);
      return B ? (*B)(i, 0) - y : y;
    };
    double ss = 0.0;
    if constexpr (std::is_same_v<T, double>) {
      Index i = begin;
      for (; i + 4 <= end; i += 4) {
        const auto r0 = A_.row(i).transpose(), r1 = A_.row(i + 1).transpose();
        const auto r2 = A_.row(i + 2).transpose(), r3 = A_.row(i + 3).transpose();
        const double y0 = value(i, r0), y1 = value(i + 1, r1);
        const double y2 = value(i + 2, r2), y3 = value(i + 3, r3);
        ss += (y0 * y0 + y1 * y1) + (y2 * y2 + y3 * y3);
        a.noalias() += y0 * r0 + y1 * r1 + y2 * r2 + y3 * r3;
      }
      for (; i < end; ++i) {
        const auto row = A_.row(i).transpose();
        const double yi = value(i, row);
        ss += yi * yi;
        a.noalias() += yi * row;
      }
    } else {
      Vector<double> row(d);
      for (Index i = begin; i < end; ++i) {
        row = A_.row(i).transpose().template cast<double>();
        const double yi = value(i, row);
        ss += yi * yi;
        a.noalias() += yi * row;
      }
    }
    sq = ss;
  }

  const MatrixRef& A_;
};

/// The three arrays of a CSR matrix with index type I (std::int32_t as SciPy stores most
/// matrices, or std::int64_t), without ownership.
template <typename T, typename I>
struct CsrArrays {
  Index rows = 0, cols = 0;
  const I* indptr = nullptr;   // length rows + 1
  const I* indices = nullptr;  // length nnz
  const T* data = nullptr;     // length nnz
};

/// Sparse A in CSR form (CSC input is converted once by the caller).
template <typename T, typename I>
class CsrOperator {
 public:
  explicit CsrOperator(const CsrArrays<T, I>& A) : A_(A) {}
  Index rows() const { return A_.rows; }
  Index cols() const { return A_.cols; }

  void normal(const RowMatrix<double>& W, RowMatrix<double>& out, Vector<double>& q) const {
    pass(W, nullptr, out, q, nullptr);
  }
  void residual(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                RowMatrix<double>& out, Vector<double>& q,
                Vector<double>* col_sq = nullptr) const {
    pass(X, &B, out, q, col_sq);
  }
  void residual_norms(const RowMatrix<double>& X, const ConstRowMatrixRef<double>& B,
                      Vector<double>& q) const {
    const Index n = A_.rows, d = A_.cols, k = X.cols();
    const RowBlocks blocks(n, d, k);
    std::vector<Vector<double>> sq(blocks.count);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      Vector<double> y(k), s = Vector<double>::Zero(k);
      for (Index i = begin; i < end; ++i) {
        y = B.row(i).transpose();
        for (I p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p)
          y.noalias() -= static_cast<double>(A_.data[p]) * X.row(A_.indices[p]).transpose();
        s += y.cwiseAbs2();
      }
      sq[b] = std::move(s);
    }, kSchedule, 2);
    q = Vector<double>::Zero(k);
    for (const auto& s : sq) q += s;
  }
  /// Whether every stored value of A is finite.
  bool all_finite() const {
    const Index nnz = static_cast<Index>(A_.indptr[A_.rows]);
    return Eigen::Map<const Vector<T>>(A_.data, nnz).allFinite();
  }

 private:
  void pass(const RowMatrix<double>& W, const ConstRowMatrixRef<double>* B,
            RowMatrix<double>& out, Vector<double>& q, Vector<double>* col_sq) const {
    const Index n = A_.rows, d = A_.cols, k = W.cols();
    const RowBlocks blocks(n, d, k);
    std::vector<RowMatrix<double>> parts(blocks.count);
    std::vector<Vector<double>> sq(blocks.count), csq(col_sq ? blocks.count : 0);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> s = Vector<double>::Zero(k);
      Vector<double> c = Vector<double>::Zero(col_sq ? d : 0);
      Vector<double> y(k);
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      const I* const indices = A_.indices;
      const T* const data = A_.data;
      if (k == 1) {  // the common case, without per-nonzero vector overhead
        const double* w = W.data();
        double* a = acc.data();
        double ss = 0.0;
        for (Index i = begin; i < end; ++i) {
          const I p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
          double yi = 0.0;
          for (I p = p0; p < p1; ++p) yi += static_cast<double>(data[p]) * w[indices[p]];
          if (B) yi = (*B)(i, 0) - yi;
          ss += yi * yi;
          for (I p = p0; p < p1; ++p) a[indices[p]] += static_cast<double>(data[p]) * yi;
        }
        s[0] = ss;
      } else {
        for (Index i = begin; i < end; ++i) {
          const I p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
          if (B) {
            y = B->row(i).transpose();
          } else {
            y.setZero();
          }
          const double sign = B ? -1.0 : 1.0;
          for (I p = p0; p < p1; ++p)
            y.noalias() += (sign * static_cast<double>(data[p])) * W.row(indices[p]).transpose();
          s += y.cwiseAbs2();
          for (I p = p0; p < p1; ++p)
            acc.row(indices[p]).noalias() += static_cast<double>(data[p]) * y.transpose();
        }
      }
      if (col_sq) {
        const I p0 = A_.indptr[begin], p1 = A_.indptr[end];
        for (I p = p0; p < p1; ++p) {
          const double v = static_cast<double>(data[p]);
          c[indices[p]] += v * v;
        }
        csq[b] = std::move(c);
      }
      parts[b] = std::move(acc);
      sq[b] = std::move(s);
    }, kSchedule, 2);
    out.resize(d, k);
    q.resize(k);
    sum_partials(parts, sq, out, q);
    if (col_sq) {
      *col_sq = Vector<double>::Zero(d);
      for (const auto& c : csq) *col_sq += c;
    }
  }

  CsrArrays<T, I> A_;
};

}  // namespace nearlinear::lstsq_detail

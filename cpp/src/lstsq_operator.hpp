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
#include "lstsq_csr_rows.hpp"

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

  /// The widest W whose pass streams A about as fast as one column (the row kernel).
  Index narrow_pass_width() const { return kRowMajor ? 2 : 1; }
  /// ||A 1||^2 is not measured by the dense passes: 0 (no all-ones shrinking).
  double ones_norm_squared() const { return 0.0; }

  /// A bound on the number of terms of any sum a pass with k right-hand sides accumulates.
  Index accumulation_terms(Index k) const {
    const RowBlocks blocks(A_.rows(), A_.cols(), k);
    return A_.cols() + blocks.rows_per_block + blocks.count;
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
    ColMatrix<double> W_columns;  // W with contiguous columns, for few_rhs_rows
    bool zero_columns[kFewRhs] = {};  // with B: y = B there, no products
    if (kRowMajor && k <= kFewRhs && !col_sq) {
      W_columns = W;
      for (Index c = 0; c < k; ++c) zero_columns[c] = B && W.col(c).isZero(0.0);
    }
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      Vector<double> s = Vector<double>::Zero(k);
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      if constexpr (kRowMajor) {
        if (k <= kFewRhs && !col_sq) {  // a few right-hand sides: rows read once, reused from L1
          ColMatrix<double> columns = ColMatrix<double>::Zero(d, k);
          const auto rows = [&](auto width) {
            constexpr int K = decltype(width)::value;
            few_rhs_rows<K>(begin, end, W_columns, zero_columns, B, columns, s);
          };
          switch (k) {
            case 1: rows(std::integral_constant<int, 1>{}); break;
            case 2: rows(std::integral_constant<int, 2>{}); break;
            case 3: rows(std::integral_constant<int, 3>{}); break;
            case 4: rows(std::integral_constant<int, 4>{}); break;
            default: rows(std::integral_constant<int, 5>{}); break;
          }
          parts[b] = columns;
          sq[b] = std::move(s);
          return;
        }
      }
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> c = Vector<double>::Zero(col_sq ? d : 0);
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
  /// The most right-hand sides of few_rhs_rows; wider W goes through matrix products, which
  /// were as fast at 8 (200000 x 200: 4 took 190-250 ms against 310-330 by products, 5 took
  /// 250-270 against 320-370, 8 took 370-390 against 340-350).
  static constexpr int kFewRhs = 5;

  /// Rows [begin, end) of the pass for K = 1..kFewRhs right-hand sides: y_i = a_i W (or B_i - a_i
  /// W), acc += a_i^T y_i (acc: #d by K, its columns contiguous, as are those of W). A
  /// general matrix product would pack the block for a W this narrow. Four rows at a time:
  /// their dot products on rows fresh from memory, then one sweep over the four rows (now in
  /// L1 or L2) that updates every column of acc (loaded and stored once per four rows).
  /// zero[c]: column c of W is zero and B is given (the residual at x = 0, found once per
  /// pass), so y = B with no dot product.
  template <int K>
  void few_rhs_rows(Index begin, Index end, const ColMatrix<double>& W, const bool* zero,
                    const ConstRowMatrixRef<double>* B, ColMatrix<double>& acc,
                    Vector<double>& sq) const {
    const Index d = A_.cols();
    // y_ic from the dot product a_i . W_c (0 for a zero column).
    auto value = [&](Index i, int c, double dot) { return B ? (*B)(i, c) - dot : dot; };
    double ss[K] = {};
    Index i = begin;
    for (; i + 4 <= end; i += 4) {
      const T* p[4] = {A_.row(i).data(), A_.row(i + 1).data(), A_.row(i + 2).data(),
                       A_.row(i + 3).data()};
      double y[K][4];
      for (int c = 0; c < K; ++c) {
        double dots[4] = {};
        if (!zero[c]) dot_four(p, W.col(c).data(), d, dots);
        for (int q = 0; q < 4; ++q) {
          y[c][q] = value(i + q, c, dots[q]);
          ss[c] += y[c][q] * y[c][q];
        }
      }
      update_four<K>(p[0], p[1], p[2], p[3], y, d, acc);
    }
    for (; i < end; ++i) {
      const auto row = A_.row(i).transpose().template cast<double>();
      for (int c = 0; c < K; ++c) {
        const double yi = value(i, c, zero[c] ? 0.0 : row.dot(W.col(c)));
        ss[c] += yi * yi;
        acc.col(c).noalias() += yi * row;
      }
    }
    for (int c = 0; c < K; ++c) sq[c] = ss[c];
  }

  /// Eight values of a row from p, widened to double.
  using Lane = Eigen::Array<double, 8, 1>;
  static Lane lane(const T* p) {
    if constexpr (std::is_same_v<T, double>) {
      return Eigen::Map<const Lane>(p);
    } else {
      return Eigen::Map<const Eigen::Array<T, 8, 1>>(p).template cast<double>();
    }
  }

  /// y[q] = r_q . w for the four rows r_q (length d), row by row (reading the four rows
  /// side by side was slower: 35 ms against 29 ms a pass at 100000 x 1000). A float row is
  /// widened in registers, eight values at a time, so the pass reads half the bytes of a
  /// double A: 17-20 ms against 26-30 ms there (before, each row was widened into a
  /// buffer first, and the float pass took longer than the double one).
  static void dot_four(const T* const (&r)[4], const double* w, Index d, double (&y)[4]) {
    const Eigen::Map<const Vector<double>> wv(w, d);
    for (int q = 0; q < 4; ++q) {
      if constexpr (std::is_same_v<T, double>) {
        y[q] = Eigen::Map<const Vector<double>>(r[q], d).dot(wv);
      } else {
        Lane s0 = Lane::Zero(), s1 = Lane::Zero();
        Index j = 0;
        for (; j + 16 <= d; j += 16) {
          s0 += lane(r[q] + j) * Eigen::Map<const Lane>(w + j);
          s1 += lane(r[q] + j + 8) * Eigen::Map<const Lane>(w + j + 8);
        }
        double t = (s0 + s1).sum();
        for (; j < d; ++j) t += static_cast<double>(r[q][j]) * w[j];
        y[q] = t;
      }
    }
  }

  /// acc.col(c) += y[c][0] r0 + y[c][1] r1 + y[c][2] r2 + y[c][3] r3 for every c, reading the
  /// four rows (of length d) once, eight values at a time.
  template <int K>
  static void update_four(const T* r0, const T* r1, const T* r2, const T* r3,
                          const double (&y)[K][4], Index d, ColMatrix<double>& acc) {
    Index j = 0;
    for (; j + 8 <= d; j += 8) {
      const Lane a0 = lane(r0 + j), a1 = lane(r1 + j), a2 = lane(r2 + j), a3 = lane(r3 + j);
      for (int c = 0; c < K; ++c) {
        Eigen::Map<Lane> out(acc.col(c).data() + j);
        out += y[c][0] * a0 + y[c][1] * a1 + y[c][2] * a2 + y[c][3] * a3;
      }
    }
    for (; j < d; ++j)
      for (int c = 0; c < K; ++c)
        acc(j, c) += y[c][0] * static_cast<double>(r0[j]) +
                     y[c][1] * static_cast<double>(r1[j]) +
                     y[c][2] * static_cast<double>(r2[j]) + y[c][3] * static_cast<double>(r3[j]);
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
///
/// Until one pass has completed, the passes validate the structure as they read it: a row
/// is used only when 0 <= indptr[i] <= indptr[i + 1] <= nnz, and an entry only when its
/// column index is in [0, d); anything else is skipped and the pass throws
/// std::invalid_argument naming A once it is done. No memory outside the arrays is touched,
/// so a caller whose first pass is over A needs no separate validation pass; later passes
/// (A is const) skip the checks. `validated`: the caller has checked the structure already.
/// Requires indptr[0] == 0 and 0 <= nnz = indptr[rows] <= length of indices and data
/// (checked by the constructor and the binding respectively).
template <typename T, typename I>
class CsrOperator {
 public:
  CsrOperator(const CsrArrays<T, I>& A, bool validated)
      : A_(A),
        nnz_(static_cast<Index>(A.indptr[A.rows])),
        short_rows_(nnz_ <= kShortRows * A.rows),
        validated_(validated) {
    NL_CHECK(A.indptr[0] == 0, "sparse `A`: indptr[0] must be 0; got " << A.indptr[0]);
    NL_CHECK(nnz_ >= 0, "sparse `A`: indptr[-1] must be >= 0; got " << nnz_);
  }
  Index rows() const { return A_.rows; }
  Index cols() const { return A_.cols; }

  /// A bound on the number of terms of any sum a pass with k right-hand sides accumulates
  /// (a row's dot product, then the rows of a block, then the blocks), for rounding bounds.
  /// Reads indptr once (a malformed one makes the next pass throw).
  Index accumulation_terms(Index k) const {
    const RowBlocks blocks(A_.rows, A_.cols, k);
    constexpr Index kChunk = 1 << 16;
    const Index chunks = (A_.rows + kChunk - 1) / kChunk;
    std::vector<Index> longest(chunks, 0);
    parallel_for(0, chunks, [&](std::int64_t c) {
      Index m = 0;
      for (Index i = c * kChunk; i < std::min(A_.rows, (c + 1) * kChunk); ++i)
        m = std::max(m, static_cast<Index>(A_.indptr[i + 1] - A_.indptr[i]));
      longest[c] = m;
    });
    const Index row_terms = chunks ? *std::max_element(longest.begin(), longest.end()) : 0;
    return row_terms + blocks.rows_per_block + blocks.count;
  }

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
    std::vector<char> valid(blocks.count, 1);
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      Vector<double> y(k), s = Vector<double>::Zero(k);
      for (Index i = begin; i < end; ++i) {
        y = B.row(i).transpose();
        const I p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
        if (!row_in_range(p0, p1)) {
          valid[b] = 0;
          continue;
        }
        for (I p = p0; p < p1; ++p) {
          if (!index_in_range(A_.indices[p])) {
            valid[b] = 0;
            continue;
          }
          y.noalias() -= static_cast<double>(A_.data[p]) * X.row(A_.indices[p]).transpose();
        }
        s += y.cwiseAbs2();
      }
      sq[b] = std::move(s);
    }, kSchedule, 2);
    throw_if_invalid(valid);
    validated_ = true;
    q = Vector<double>::Zero(k);
    for (const auto& s : sq) q += s;
  }
  /// Whether every stored value of A is finite.
  bool all_finite() const { return Eigen::Map<const Vector<T>>(A_.data, nnz_).allFinite(); }
  /// ||A 1||^2 (the squared norm of the row sums), computed by the last residual pass that
  /// returned column norms; 0 before any.
  double ones_norm_squared() const { return ones_norm_sq_; }
  /// The widest W whose pass costs about as much as one column: 1 (each column adds its
  /// products per entry).
  Index narrow_pass_width() const { return 1; }

 private:
  using U = std::make_unsigned_t<I>;

  bool row_in_range(I p0, I p1) const {
    return static_cast<U>(p0) <= static_cast<U>(p1) &&
           static_cast<std::uint64_t>(static_cast<U>(p1)) <= static_cast<std::uint64_t>(nnz_);
  }
  bool index_in_range(I j) const {
    return static_cast<std::uint64_t>(static_cast<U>(j)) < static_cast<std::uint64_t>(A_.cols);
  }
  static void throw_if_invalid(const std::vector<char>& valid) {
    NL_CHECK(std::all_of(valid.begin(), valid.end(), [](char c) { return c != 0; }),
             "sparse `A` is malformed: indptr must be non-decreasing from 0 to nnz and every "
             "column index in [0, A.shape[1])");
  }

  /// Rows [begin, end) of the pass for one right-hand side: acc += y_i a_i^T with y_i = a_i . w
  /// (kResidual: b_i - a_i . w, b the right-hand side), sq = sum y_i^2 (w_zero: w is all
  /// zeros). With kColumns, acc holds 2 d values, the pairs (acc_j, ||a_j||^2) at 2 j and
  /// 2 j + 1 (one 16-byte add per entry), and ones gets the sum of the squared row sums.
  /// With kCheck, malformed rows and entries are skipped and the result is false if there
  /// were any. Short rows (on average) go four at a time through lstsq_csr_rows.hpp where the
  /// build has AVX2, the rest and the last few rows through the loop here.
  template <bool kCheck, bool kResidual, bool kColumns>
  bool pass_single(Index begin, Index end, const double* w, bool w_zero, const double* b,
                   double* acc, double& sq, double& ones) const {
    const I* const indices = A_.indices;
    const T* const data = A_.data;
    bool valid = true;
    double ss = 0.0, os = 0.0;
    Index i = begin;
    if constexpr (kCsrRowsByFour) {
      if (short_rows_ && kResidual && w_zero) {
        i = csr_rows_by_four_at_zero<kCheck, kColumns>(begin, end, A_.indptr, indices, data,
                                                       nnz_, A_.cols, b, acc, ss, os, valid);
      } else if (short_rows_ && !kColumns) {
        i = csr_rows_by_four<kCheck, kResidual>(begin, end, A_.indptr, indices, data, nnz_,
                                                A_.cols, w, b, acc, ss, valid);
      }
    }
    for (; i < end; ++i) {
      const I p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
      if (kCheck && !row_in_range(p0, p1)) {
        valid = false;
        continue;
      }
      double y = 0.0, t = 0.0;
      for (I p = p0; p < p1; ++p) {
        if (kCheck && !index_in_range(indices[p])) {
          valid = false;
          continue;
        }
        y += static_cast<double>(data[p]) * w[indices[p]];
        if constexpr (kColumns) t += static_cast<double>(data[p]);
      }
      if constexpr (kResidual) y = b[i] - y;
      ss += y * y;
      if constexpr (kColumns) os += t * t;
      if (kCheck && !valid) continue;  // leave the rest of the block alone: the pass fails
      for (I p = p0; p < p1; ++p) {
        const double v = static_cast<double>(data[p]);
        if constexpr (kColumns) {
          double* pair = acc + 2 * static_cast<Index>(indices[p]);
          pair[0] += v * y;
          pair[1] += v * v;
        } else {
          acc[indices[p]] += v * y;
        }
      }
    }
    sq = ss;
    ones = os;
    return valid;
  }

  /// Rows [begin, end) of the pass for several right-hand sides (W: #d by k row-major, acc
  /// likewise): y_i = a_i W (with B: B_i - a_i W), sq_c += y_ic^2, acc_j += a_ij y_i, and
  /// with col the squared column norms and ones the sum of squared row sums. KC > 0: k fixed
  /// at compile time (the row's values then stay in registers), 0: k = W.cols(). Malformed
  /// rows and entries are skipped and the result is false if there were any.
  template <int KC>
  bool rows_fixed(Index begin, Index end, const RowMatrix<double>& W,
                  const ConstRowMatrixRef<double>* B, double* acc, double* col, double* sq,
                  double& ones) const {
    constexpr int kMax = KC > 0 ? KC : 1;
    const Index k = KC > 0 ? KC : W.cols();
    const I* const indices = A_.indices;
    const T* const data = A_.data;
    const double* const w = W.data();
    std::vector<double> dynamic(KC > 0 ? 0 : static_cast<std::size_t>(k));
    double fixed[kMax];
    double* const y = KC > 0 ? fixed : dynamic.data();
    bool valid = true;
    for (Index i = begin; i < end; ++i) {
      const I p0 = A_.indptr[i], p1 = A_.indptr[i + 1];
      if (!row_in_range(p0, p1)) {
        valid = false;
        continue;
      }
      for (Index c = 0; c < k; ++c) y[c] = 0.0;
      double t = 0.0;
      for (I p = p0; p < p1; ++p) {
        if (!index_in_range(indices[p])) {
          valid = false;
          continue;
        }
        const double v = static_cast<double>(data[p]);
        const double* wj = w + static_cast<Index>(indices[p]) * k;
        for (Index c = 0; c < k; ++c) y[c] += v * wj[c];
        t += v;
      }
      if (B) {
        const double* bi = B->data() + i * B->outerStride();
        for (Index c = 0; c < k; ++c) y[c] = bi[c] - y[c];
      }
      for (Index c = 0; c < k; ++c) sq[c] += y[c] * y[c];
      if (col) ones += t * t;
      for (I p = p0; p < p1; ++p) {
        if (!index_in_range(indices[p])) continue;
        const double v = static_cast<double>(data[p]);
        double* aj = acc + static_cast<Index>(indices[p]) * k;
        for (Index c = 0; c < k; ++c) aj[c] += v * y[c];
        if (col) col[indices[p]] += v * v;
      }
    }
    return valid;
  }

  void pass(const RowMatrix<double>& W, const ConstRowMatrixRef<double>* B,
            RowMatrix<double>& out, Vector<double>& q, Vector<double>* col_sq) const {
    const Index n = A_.rows, d = A_.cols, k = W.cols();
    const RowBlocks blocks(n, d, k);
    std::vector<RowMatrix<double>> parts(blocks.count);
    std::vector<Vector<double>> sq(blocks.count), csq(col_sq ? blocks.count : 0);
    std::vector<char> valid(blocks.count, 1);
    std::vector<double> ones(blocks.count, 0.0);  // per block: sum of squared row sums
    const bool check = !validated_;
    Vector<double> b_column;
    if (k == 1 && B && B->outerStride() != 1) b_column = B->col(0);  // else read in place
    const bool w_zero = k == 1 && W.isZero(0.0);  // the residual at x = 0: no products
    parallel_for(0, blocks.count, [&](std::int64_t b) {
      const Index begin = b * blocks.rows_per_block;
      const Index end = std::min(n, begin + blocks.rows_per_block);
      Vector<double> s = Vector<double>::Zero(k);
      if (k == 1) {
        // With the column norms, the pairs (acc_j, ||a_j||^2) interleaved (see pass_single).
        Vector<double> acc = Vector<double>::Zero(col_sq ? 2 * d : d);
        const double* bp = !B ? nullptr : (B->outerStride() == 1 ? B->data() : b_column.data());
        const double* wp = W.data();
        auto run = [&](auto checking) {
          constexpr bool kCheck = decltype(checking)::value;
          double* a = acc.data();
          double& o = ones[b];
          if (!B)
            return pass_single<kCheck, false, false>(begin, end, wp, w_zero, nullptr, a, s[0], o);
          if (!col_sq)
            return pass_single<kCheck, true, false>(begin, end, wp, w_zero, bp, a, s[0], o);
          return pass_single<kCheck, true, true>(begin, end, wp, w_zero, bp, a, s[0], o);
        };
        valid[b] = check ? run(std::true_type{}) : run(std::false_type{});
        if (col_sq) {
          const Eigen::Map<const Eigen::Matrix<double, 2, Eigen::Dynamic>> pairs(acc.data(), 2, d);
          parts[b] = pairs.row(0).transpose();
          csq[b] = pairs.row(1).transpose();
        } else {
          parts[b] = std::move(acc);
        }
        sq[b] = std::move(s);
        return;
      }
      RowMatrix<double> acc = RowMatrix<double>::Zero(d, k);
      Vector<double> c = Vector<double>::Zero(col_sq ? d : 0);
      double* cp = col_sq ? c.data() : nullptr;
      bool ok = true;
      switch (k) {  // a fixed width keeps a row's k values in registers
        case 2: ok = rows_fixed<2>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 3: ok = rows_fixed<3>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 4: ok = rows_fixed<4>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 5: ok = rows_fixed<5>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 6: ok = rows_fixed<6>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 7: ok = rows_fixed<7>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        case 8: ok = rows_fixed<8>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
        default: ok = rows_fixed<0>(begin, end, W, B, acc.data(), cp, s.data(), ones[b]); break;
      }
      if (!ok) valid[b] = 0;
      if (col_sq) csq[b] = std::move(c);
      parts[b] = std::move(acc);
      sq[b] = std::move(s);
    }, kSchedule, 2);
    throw_if_invalid(valid);
    validated_ = true;
    out.resize(d, k);
    q.resize(k);
    sum_partials(parts, sq, out, q);
    if (col_sq) {
      *col_sq = Vector<double>::Zero(d);
      for (const auto& c : csq) *col_sq += c;
      ones_norm_sq_ = 0.0;
      for (const double o : ones) ones_norm_sq_ += o;
    }
  }

  /// Rows this short on average (entries per row) take the four-row kernel of
  /// lstsq_csr_rows.hpp; longer rows amortise a loop exit, and the plain loop is faster.
  static constexpr Index kShortRows = 24;

  CsrArrays<T, I> A_;
  Index nnz_;
  bool short_rows_;
  mutable bool validated_;
  mutable double ones_norm_sq_ = 0.0;
};

}  // namespace nearlinear::lstsq_detail

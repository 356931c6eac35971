// The CSR passes of the least-squares solvers (private header) against dense products.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "../src/lstsq_operator.hpp"

namespace nl = nearlinear;
using nl::Index;
using nl::lstsq_detail::CsrArrays;
using nl::lstsq_detail::CsrOperator;

namespace {

/// A CSR matrix whose rows have 0 to 20 entries (most of them short, as in a random sparse
/// design), a few of 30 to 60 and one of 6000; column indices repeat within a row (the
/// dense copy adds them up, as the products must; the column norms sum the squares of the
/// stored entries).
struct Csr {
  Index rows = 0, cols = 0;
  std::vector<std::int32_t> indptr{0}, indices;
  std::vector<double> data;
  nl::RowMatrix<double> dense;
};

Csr random_csr(Index n, Index d, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<Index> col(0, d - 1);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> u;
  Csr A;
  A.rows = n;
  A.cols = d;
  A.dense = nl::RowMatrix<double>::Zero(n, d);
  for (Index i = 0; i < n; ++i) {
    const double r = u(g);
    Index len = r < 0.9 ? static_cast<Index>(u(g) * 13) : static_cast<Index>(u(g) * 21);
    if (r > 0.99) len = 30 + static_cast<Index>(u(g) * 31);
    if (i == n / 2) len = 6000;
    for (Index k = 0; k < len; ++k) {
      const Index j = col(g);
      A.indices.push_back(static_cast<std::int32_t>(j));
      A.data.push_back(normal(g));
      A.dense(i, j) += A.data.back();
    }
    A.indptr.push_back(static_cast<std::int32_t>(A.indices.size()));
  }
  return A;
}

CsrArrays<double, std::int32_t> arrays(const Csr& A) {
  return {A.rows, A.cols, A.indptr.data(), A.indices.data(), A.data.data()};
}

nl::RowMatrix<double> normal_matrix(Index rows, Index cols, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> normal;
  nl::RowMatrix<double> M(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) M(i, j) = normal(g);
  return M;
}

double rel(const nl::RowMatrix<double>& a, const nl::RowMatrix<double>& b) {
  return (a - b).norm() / b.norm();
}

}  // namespace

TEST(LstsqCsrPass, NormalAndResidualPassesMatchDenseProducts) {
  const Csr A = random_csr(5000, 37, 3);
  for (const Index k : {1, 3}) {
    const auto W = normal_matrix(A.cols, k, 10 + k);
    const auto B = normal_matrix(A.rows, k, 20 + k);
    for (const bool validated : {false, true}) {
      const CsrOperator<double, std::int32_t> op(arrays(A), validated);
      nl::RowMatrix<double> out;
      nl::Vector<double> q, col_sq;
      op.normal(W, out, q);
      const nl::RowMatrix<double> AW = A.dense * W;
      EXPECT_LT(rel(out, A.dense.transpose() * AW), 1e-13) << "k = " << k;
      EXPECT_LT(rel(q.transpose(), AW.colwise().squaredNorm()), 1e-13);

      const CsrOperator<double, std::int32_t> op2(arrays(A), validated);
      op2.residual(W, B, out, q, &col_sq);
      const nl::RowMatrix<double> R = B - A.dense * W;
      EXPECT_LT(rel(out, A.dense.transpose() * R), 1e-13) << "k = " << k;
      EXPECT_LT(rel(q.transpose(), R.colwise().squaredNorm()), 1e-13);
      nl::RowMatrix<double> entries_sq = nl::RowMatrix<double>::Zero(1, A.cols);
      for (std::size_t p = 0; p < A.data.size(); ++p)
        entries_sq(0, A.indices[p]) += A.data[p] * A.data[p];  // repeated indices: each entry
      EXPECT_LT(rel(col_sq.transpose(), entries_sq), 1e-13);
      const double ones = A.dense.rowwise().sum().squaredNorm();
      EXPECT_NEAR(op2.ones_norm_squared(), ones, 1e-12 * ones);
    }
  }
}

TEST(LstsqCsrPass, ResultsDoNotDependOnTheThreadCount) {
  const Csr A = random_csr(20000, 50, 5);
  const auto W = normal_matrix(A.cols, 1, 1);
  const auto B = normal_matrix(A.rows, 1, 2);
  const CsrOperator<double, std::int32_t> op(arrays(A), true);
  nl::RowMatrix<double> first, again;
  nl::Vector<double> q1, q2;
  const int threads = nl::get_num_threads();
  nl::set_num_threads(1);
  op.residual(W, B, first, q1);
  nl::set_num_threads(2);
  op.residual(W, B, again, q2);
  nl::set_num_threads(threads);
  EXPECT_EQ(first, again);
  EXPECT_EQ(q1, q2);
}

TEST(LstsqCsrPass, FirstPassRejectsMalformedStructureWithoutReadingOutside) {
  const nl::RowMatrix<double> W = nl::RowMatrix<double>::Ones(37, 1);
  const auto B = normal_matrix(5000, 1, 4);
  nl::RowMatrix<double> out;
  nl::Vector<double> q, col_sq;
  auto expect_rejected = [&](const Csr& A) {
    const CsrOperator<double, std::int32_t> op(arrays(A), false);
    EXPECT_THROW(op.residual(W, B, out, q, &col_sq), std::invalid_argument);
  };
  Csr A = random_csr(5000, 37, 7);
  for (const std::int32_t bad : {37, -1, 1 << 30}) {
    Csr C = A;
    C.indices[C.indices.size() / 3] = bad;  // in a short row
    expect_rejected(C);
    C = A;
    C.indices[static_cast<std::size_t>(C.indptr[2500]) + 4000] = bad;  // in the long row
    expect_rejected(C);
  }
  Csr C = A;
  std::swap(C.indptr[100], C.indptr[101]);  // not non-decreasing
  if (C.indptr[100] != C.indptr[101]) expect_rejected(C);
  C = A;
  C.indptr[4000] = C.indptr.back() + 5;  // beyond nnz
  expect_rejected(C);
}

namespace {

/// A's arrays in index type I and value type T (values rounded to T, and the dense copy
/// with them), and with every fifth row emptied: short rows of every length 0..12 next to
/// each other, in runs that do not line up with four rows.
template <typename T, typename I>
struct TypedCsr {
  Index rows = 0, cols = 0;
  std::vector<I> indptr{0}, indices;
  std::vector<T> data;
  nl::RowMatrix<double> dense;
  CsrArrays<T, I> arrays() const {
    return {rows, cols, indptr.data(), indices.data(), data.data()};
  }
};

template <typename T, typename I>
TypedCsr<T, I> typed_csr(Index n, Index d, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<Index> col(0, d - 1), len(0, 12);
  std::normal_distribution<double> normal;
  TypedCsr<T, I> A;
  A.rows = n;
  A.cols = d;
  A.dense = nl::RowMatrix<double>::Zero(n, d);
  for (Index i = 0; i < n; ++i) {
    const Index k = i % 5 == 3 ? 0 : len(g);
    for (Index e = 0; e < k; ++e) {
      const Index j = col(g);
      A.indices.push_back(static_cast<I>(j));
      A.data.push_back(static_cast<T>(normal(g)));
      A.dense(i, j) += static_cast<double>(A.data.back());
    }
    A.indptr.push_back(static_cast<I>(A.indices.size()));
  }
  return A;
}

template <typename T, typename I>
void expect_passes_match_dense(Index n) {
  const auto A = typed_csr<T, I>(n, 29, 40 + n);
  const auto B = normal_matrix(n, 1, 41);
  for (const bool zero_w : {true, false}) {
    const nl::RowMatrix<double> W =
        zero_w ? nl::RowMatrix<double>::Zero(A.cols, 1) : normal_matrix(A.cols, 1, 42);
    const nl::RowMatrix<double> R = B - A.dense * W;
    for (const bool validated : {false, true}) {
      const CsrOperator<T, I> op(A.arrays(), validated);
      nl::RowMatrix<double> out;
      nl::Vector<double> q, col_sq;
      op.residual(W, B, out, q, &col_sq);  // the first pass: checks, column norms
      EXPECT_LT(rel(out, A.dense.transpose() * R), 1e-13) << "n = " << n << ", zero_w " << zero_w;
      EXPECT_LT(rel(q.transpose(), R.colwise().squaredNorm()), 1e-13);
      nl::RowMatrix<double> entries_sq = nl::RowMatrix<double>::Zero(1, A.cols);
      for (std::size_t p = 0; p < A.data.size(); ++p)  // a repeated index: each entry
        entries_sq(0, static_cast<Index>(A.indices[p])) +=
            static_cast<double>(A.data[p]) * static_cast<double>(A.data[p]);
      EXPECT_LT(rel(col_sq.transpose(), entries_sq), 1e-13);
      const double ones = A.dense.rowwise().sum().squaredNorm();
      EXPECT_NEAR(op.ones_norm_squared(), ones, 1e-12 * ones);
      op.residual(W, B, out, q);  // a later pass, without the checks
      EXPECT_LT(rel(out, A.dense.transpose() * R), 1e-13);
      if (!zero_w) {
        op.normal(W, out, q);
        const nl::RowMatrix<double> AW = A.dense * W;
        EXPECT_LT(rel(out, A.dense.transpose() * AW), 1e-13);
        EXPECT_LT(rel(q.transpose(), AW.colwise().squaredNorm()), 1e-13);
      }
    }
  }
}

}  // namespace

// Short rows go through the four-row kernel where the build has one (lstsq_csr_rows.hpp);
// every value and index type, and row counts that leave 0 to 3 rows over, plus the rows at
// the end of A, whose vectors would read past nnz and which the plain loop finishes.
TEST(LstsqCsrPass, ShortRowsMatchDenseProductsForEveryType) {
  for (const Index n : {1, 2, 3, 4, 5, 7, 64, 1001, 4002}) {
    expect_passes_match_dense<double, std::int32_t>(n);
    expect_passes_match_dense<double, std::int64_t>(n);
    expect_passes_match_dense<float, std::int32_t>(n);
    expect_passes_match_dense<float, std::int64_t>(n);
  }
}

TEST(LstsqCsrPass, FirstPassAtZeroRejectsMalformedShortRows) {
  const auto A = typed_csr<double, std::int32_t>(3000, 29, 9);
  const nl::RowMatrix<double> X = nl::RowMatrix<double>::Zero(29, 1);
  const auto B = normal_matrix(3000, 1, 10);
  nl::RowMatrix<double> out;
  nl::Vector<double> q, col_sq;
  auto rejected = [&](const TypedCsr<double, std::int32_t>& C) {
    const CsrOperator<double, std::int32_t> op(C.arrays(), false);
    try {
      op.residual(X, B, out, q, &col_sq);
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  EXPECT_FALSE(rejected(A));
  // Each position of a bad index within a run of four rows, and the very first and last
  // entries (the last is in the rows the plain loop finishes).
  const std::size_t nnz = A.indices.size();
  for (const std::size_t p : {std::size_t{0}, nnz / 2, nnz / 2 + 1, nnz / 2 + 2, nnz / 2 + 3,
                              nnz - 1}) {
    for (const std::int32_t bad : {29, -1, -(1 << 30)}) {
      auto C = A;
      C.indices[p] = bad;
      EXPECT_TRUE(rejected(C)) << "entry " << p << " = " << bad;
    }
  }
  auto C = A;
  for (Index i = 1; i < 3000; ++i)
    if (C.indptr[i] != C.indptr[i + 1]) {
      std::swap(C.indptr[i], C.indptr[i + 1]);  // decreasing
      break;
    }
  EXPECT_TRUE(rejected(C));
  C = A;
  C.indptr[1500] = -4;
  EXPECT_TRUE(rejected(C));
}

// The kernel reads whole vectors past a run of rows; a NaN there must stay in its own row.
TEST(LstsqCsrPass, NonFiniteEntryStaysInItsRowAndColumn) {
  auto A = typed_csr<double, std::int32_t>(2000, 29, 11);
  const std::size_t p = static_cast<std::size_t>(A.indptr[1001]);  // first entry of a row
  ASSERT_LT(p, static_cast<std::size_t>(A.indptr[1002]));
  A.data[p] = std::numeric_limits<double>::quiet_NaN();
  const auto B = normal_matrix(2000, 1, 12);
  const nl::RowMatrix<double> X = nl::RowMatrix<double>::Zero(29, 1);
  const CsrOperator<double, std::int32_t> op(A.arrays(), true);
  nl::RowMatrix<double> out;
  nl::Vector<double> q, col_sq;
  op.residual(X, B, out, q, &col_sq);
  for (Index j = 0; j < 29; ++j)
    EXPECT_EQ(std::isnan(col_sq[j]), j == A.indices[p]) << "column " << j;
}

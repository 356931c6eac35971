// Unit tests of the least-squares core against a reference QR solve (Eigen, dense).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <Eigen/SparseCore>

#include <cmath>
#include <vector>

#include "nearlinear/lstsq.hpp"
#include "nearlinear/random.hpp"
#include "nearlinear/sketch.hpp"

namespace nl = nearlinear;

namespace {

nl::RowMatrix<double> gaussian(nl::Index rows, nl::Index cols, std::uint64_t seed) {
  nl::rng::Stream s(seed, 1);
  nl::RowMatrix<double> M(rows, cols);
  for (nl::Index i = 0; i < rows; ++i)
    for (nl::Index j = 0; j < cols; ++j) M(i, j) = s.normal();
  return M;
}

nl::RowMatrix<double> reference(const nl::RowMatrix<double>& A, const nl::RowMatrix<double>& B) {
  return A.colPivHouseholderQr().solve(B);
}

double rel(const nl::RowMatrix<double>& a, const nl::RowMatrix<double>& b) {
  return (a - b).norm() / b.norm();
}

nl::LstsqOptions options(nl::LstsqMethod method, nl::SketchKind kind = nl::SketchKind::SparseSign) {
  nl::LstsqOptions o;
  o.method = method;
  o.sketch = kind;
  o.seed = 42;
  return o;
}

/// A random CSR matrix with 64-bit indices and its dense copy: entry (i, j) is stored when a
/// uniform draw falls below `density` or, with `band`, when j = i mod d; its value is
/// value(stream), drawn right after.
struct RandomCsr {
  std::vector<std::int64_t> indptr{0}, indices;
  std::vector<double> data;
  nl::RowMatrix<double> dense;
};

template <class Value>
RandomCsr random_csr(nl::Index n, nl::Index d, nl::rng::Stream s, double density, bool band,
                     Value value) {
  RandomCsr A;
  A.dense = nl::RowMatrix<double>::Zero(n, d);
  for (nl::Index i = 0; i < n; ++i) {
    for (nl::Index j = 0; j < d; ++j)
      if (s.uniform() < density || (band && j == i % d)) {
        A.indices.push_back(j);
        A.data.push_back(value(s));
        A.dense(i, j) = A.data.back();
      }
    A.indptr.push_back(static_cast<std::int64_t>(A.indices.size()));
  }
  return A;
}

}  // namespace

TEST(Lstsq, PreconditionMatchesQrForEverySketch) {
  const auto A = gaussian(1500, 40, 1);
  const auto B = gaussian(1500, 2, 2);
  const auto X = reference(A, B);
  for (auto kind : {nl::SketchKind::SparseSign, nl::SketchKind::SRHT, nl::SketchKind::Gaussian}) {
    const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B,
                                           options(nl::LstsqMethod::Precondition, kind));
    EXPECT_TRUE(r.converged);
    EXPECT_EQ(r.rank, 40);
    EXPECT_LT(rel(r.x, X), 1e-12);
    EXPECT_NEAR(r.residual_norm[0], (A * X - B).col(0).norm(), 1e-10);
  }
}

TEST(Lstsq, LooseTolStopsOnTheRecurrencesWithinItsBound) {
  // tol = 1e-6 is far above the recurrences' drift: no confirming pass, and the answer and
  // residual norms still meet the bound against the reference.
  const auto A = gaussian(3000, 40, 7);
  const auto B = gaussian(3000, 2, 8);
  const auto X = reference(A, B);
  auto o = options(nl::LstsqMethod::Precondition);
  o.tol = 1e-6;
  const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.n_passes, r.n_iter + 2);  // sketch, first residual, one per iteration
  const double anorm = Eigen::JacobiSVD<nl::RowMatrix<double>>(A).singularValues()[0];
  for (nl::Index j = 0; j < 2; ++j) {
    const double rj = (A * r.x.col(j) - B.col(j)).norm();
    EXPECT_NEAR(r.residual_norm[j], rj, 1e-10 * rj);
    const double scale = rj + anorm * r.x.col(j).norm() + B.col(j).norm();
    EXPECT_LE((A * (r.x.col(j) - X.col(j))).norm(), 10 * o.tol * scale);
  }
}

TEST(Lstsq, OneRightHandSideStartsFromZeroWhenItIsNoise) {
  // b independent of A: zero (error ||A x*|| ~ sqrt(d / n) ||b||) is a closer start than
  // sketch-and-solve (error ~ sqrt(d / (m - d)) ||b||). With one right-hand side the first
  // pass evaluates both and starts from zero; with several (here b twice) it starts warm.
  const auto A = gaussian(4000, 50, 11);
  const auto B = gaussian(4000, 1, 12);
  nl::RowMatrix<double> B2(4000, 2);
  B2 << B, B;
  const auto X = reference(A, B);
  auto o = options(nl::LstsqMethod::Precondition);
  o.sketch_size = 200;
  const auto r_row = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  EXPECT_TRUE(r_row.converged);
  EXPECT_LT(rel(r_row.x, X), 1e-10);
  EXPECT_NEAR(r_row.residual_norm[0], (A * r_row.x - B).norm(), 1e-12 * r_row.residual_norm[0]);
  o.tol = 1e-6;
  const auto cold = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  const auto warm = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B2, o);
  EXPECT_LT(cold.n_iter, warm.n_iter);
  EXPECT_EQ(cold.n_passes, cold.n_iter + 2);  // sketch, the paired first pass, CG
}

TEST(Lstsq, ZeroStartFromTheSketchesProductNeedsNoFirstPass) {
  // Here the sketch goes by column panels and forms A^T B as it reads A: when B is noise,
  // zero is clearly the closer start (estimated from R^-T A^T b, no pass), and CG begins from
  // A^T B, one or two columns. A B that A explains well starts warm after the paired pass.
  // Row and column layouts; every answer against the QR reference.
  const nl::Index n = 20000, d = 100;
  const auto A = gaussian(n, d, 31);
  const nl::ColMatrix<double> Acol = A;
  const auto noise = gaussian(n, 2, 32);
  nl::RowMatrix<double> explained = A * gaussian(d, 1, 33) + 1e-3 * noise.leftCols(1);
  auto o = options(nl::LstsqMethod::Precondition);
  o.sketch_size = 2000;
  o.tol = 1e-6;
  struct Case {
    nl::RowMatrix<double> B;
    nl::Index extra_passes;  // the sketch (and the paired first pass)
  };
  const Case cases[] = {{noise.leftCols(1), 1}, {noise, 1}, {explained, 2}};
  for (const Case& c : cases) {
    const auto X = reference(A, c.B);
    for (const bool row : {true, false}) {
      const auto r = row ? nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), c.B, o)
                         : nl::lstsq_dense<double>(nl::ConstColMatrixRef<double>(Acol), c.B, o);
      EXPECT_TRUE(r.converged);
      EXPECT_EQ(r.n_passes, r.n_iter + c.extra_passes) << c.B.cols() << " columns, row " << row;
      for (nl::Index j = 0; j < c.B.cols(); ++j) {
        const double rn = (A * r.x.col(j) - c.B.col(j)).norm();
        const double scale = rn + A.norm() * r.x.col(j).norm() + c.B.col(j).norm();
        EXPECT_LE((A * (r.x.col(j) - X.col(j))).norm(), 10 * o.tol * scale);
      }
    }
  }
}

TEST(Lstsq, ColumnsInDifferentUnitsKeepThePreconditioner) {
  // Columns scaled by 10^-3 to 10^3 (cond(A) about 10^6): the Gram factor is accepted on the
  // condition number of the unit-norm columns, and A S (R S)^-1 is the unscaled operator, so
  // CG takes no more iterations than on the unscaled design; the answer is the QR one.
  const auto A = gaussian(20000, 100, 41);
  const auto B = gaussian(20000, 1, 42);
  nl::RowMatrix<double> scaled = A;
  for (nl::Index j = 0; j < 100; ++j) scaled.col(j) *= std::pow(10.0, -3.0 + 6.0 * j / 99.0);
  auto o = options(nl::LstsqMethod::Precondition);
  const auto plain = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(scaled), B, o);
  EXPECT_TRUE(r.converged);
  EXPECT_LE(r.n_iter, plain.n_iter + 1);
  const auto X = reference(scaled, B);
  EXPECT_LE((scaled * (r.x - X)).norm(), 1e-9 * B.norm());
}

TEST(Lstsq, SinglePrecisionSketchPreconditionsAsWellAsDouble) {
  // A double A is sketched in single precision first (column panels at this size): its
  // factor is kept with its Gram matrix in float (cond 1), in double (cond 1e3), or the
  // sketch is made again in double (cond 1e6); consistent b tests the warm start's guard.
  // At m = 20 d each CG iteration divides the error by about 4, so a preconditioner spoiled
  // by the rounding would show in the iteration count; every answer against QR.
  const nl::Index n = 20000, d = 100;
  const auto G = gaussian(n, d, 51);
  const nl::RowMatrix<double> V = gaussian(d, d, 52).householderQr().householderQ();
  auto o = options(nl::LstsqMethod::Precondition);
  o.tol = 1e-6;
  for (const double decades : {0.0, 3.0, 6.0}) {
    nl::Vector<double> sigma(d);
    for (nl::Index j = 0; j < d; ++j) sigma[j] = std::pow(10.0, -decades * j / (d - 1));
    const nl::RowMatrix<double> A = G * sigma.asDiagonal() * V.transpose();
    const nl::RowMatrix<double> noise = gaussian(n, 1, 53);
    const nl::RowMatrix<double> consistent = A * gaussian(d, 1, 54);
    for (const nl::RowMatrix<double>* B : {&noise, &consistent}) {
      const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), *B, o);
      EXPECT_TRUE(r.converged) << decades;
      EXPECT_LE(r.n_iter, 12) << "cond 1e" << decades;
      const auto X = reference(A, *B);
      const double rn = (A * r.x - *B).norm();
      const double scale = rn + sigma[0] * std::sqrt(double(n)) * r.x.norm() + B->norm();
      EXPECT_LE((A * (r.x - X)).norm(), 10 * o.tol * scale) << "cond 1e" << decades;
    }
  }
}

TEST(Lstsq, ColumnMajorAndFloatAgree) {
  const auto A = gaussian(1200, 30, 3);
  const auto B = gaussian(1200, 1, 4);
  const nl::ColMatrix<double> Acol = A;
  const nl::RowMatrix<float> Af = A.cast<float>();
  const auto o = options(nl::LstsqMethod::Precondition);
  const auto r_row = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  const auto r_col = nl::lstsq_dense<double>(nl::ConstColMatrixRef<double>(Acol), B, o);
  EXPECT_LT(rel(r_col.x, r_row.x), 1e-13);  // read in place (narrow), by column segments
  const auto r_f = nl::lstsq_dense<float>(nl::ConstRowMatrixRef<float>(Af), B, o);
  const nl::RowMatrix<double> Ad = Af.cast<double>();
  EXPECT_LT(rel(r_f.x, reference(Ad, B)), 1e-11);  // float data, double arithmetic
}

TEST(Lstsq, HugeAndTinyRightHandSidesAreSolvedScaled) {
  // Squares of b beyond 1e+-154 over- or underflow: such columns are solved scaled by a power
  // of two, so x and the residual norm are exactly those of the unit-scale column, scaled.
  const auto A = gaussian(1500, 20, 31);
  const auto b = gaussian(1500, 1, 32);
  for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Diagonal,
                      nl::LstsqMethod::Direct, nl::LstsqMethod::Sketch}) {
    const auto o = options(method);
    const auto base = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), b, o);
    for (double scale : {0x1p600, 0x1p-600, 0x1p-170}) {
      nl::RowMatrix<double> B(1500, 2);
      B.col(0) = b.col(0) * scale;  // scaled
      B.col(1) = b.col(0);          // left alone
      const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
      EXPECT_LT(rel(r.x.col(0) / scale, base.x.col(0)), 1e-13) << static_cast<int>(method);
      EXPECT_NEAR(r.residual_norm[0] / scale, base.residual_norm[0], 1e-12 * base.residual_norm[0]);
      EXPECT_LT(rel(r.x.col(1), base.x.col(0)), 1e-13);
    }
  }
}

TEST(Lstsq, ExtremeMagnitudesOfASolvedByDirectRefusedByTheOthers) {
  // Squares of entries beyond 2^+-450 leave the double range: direct solves the scaled copy
  // (x scaled back exactly, ridge included); the iterative methods refuse, naming the remedy.
  const auto A = gaussian(400, 8, 37);
  const auto B = gaussian(400, 1, 38);
  for (double reg : {0.0, 2.0}) {
    auto o = options(nl::LstsqMethod::Direct);
    o.reg = reg;
    const auto base = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
    for (double scale : {0x1p460, 0x1p-460}) {
      const nl::RowMatrix<double> As = A * scale;
      o.reg = reg * scale * scale;
      const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(As), B, o);
      EXPECT_LT(rel(r.x * scale, base.x), 1e-13);
      EXPECT_NEAR(r.residual_norm[0], base.residual_norm[0], 1e-12 * base.residual_norm[0]);
      EXPECT_EQ(r.rank, 8);
      for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Diagonal,
                          nl::LstsqMethod::Sketch}) {
        if (reg > 0) continue;
        EXPECT_THROW(nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(As), B,
                                             options(method)),
                     std::invalid_argument);
      }
    }
  }
}

TEST(Lstsq, FloatDataWhoseSketchOverflowsIsSolvedInDouble) {
  // Finite float32 values near the top of the range: the float sketch overflows; the solve
  // falls back to the double copy of A (its other products are in double anyway).
  const auto A = gaussian(3000, 12, 33);
  const auto B = gaussian(3000, 1, 34);
  const nl::RowMatrix<float> Af = (A * 1e37).cast<float>();
  const nl::RowMatrix<double> Ad = Af.cast<double>();
  for (auto kind : {nl::SketchKind::SRHT, nl::SketchKind::Gaussian, nl::SketchKind::SparseSign}) {
    const auto r = nl::lstsq_dense<float>(nl::ConstRowMatrixRef<float>(Af), B,
                                          options(nl::LstsqMethod::Precondition, kind));
    EXPECT_TRUE(r.x.allFinite());
    EXPECT_EQ(r.rank, 12);
    EXPECT_LT(rel(r.x, reference(Ad, B)), 1e-10) << static_cast<int>(kind);
  }
}

TEST(Lstsq, UnreachableTolEndsRoundsInsteadOfBlowingUp) {
  // tol far below rounding: CG must not run its recurrences into underflow (the iterate then
  // blew up after a few thousand iterations); it stops unconverged at the attainable answer.
  const auto A = gaussian(600, 15, 35);
  const auto B = gaussian(600, 1, 36);
  const auto X = reference(A, B);
  for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Diagonal}) {
    auto o = options(method);
    o.tol = 1e-200;
    o.max_iter = 20000;
    const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
    EXPECT_FALSE(r.converged);
    EXPECT_LT(r.n_iter, 2000);
    EXPECT_LT(rel(r.x, X), 1e-12);
  }
}

TEST(Lstsq, WideColumnMajorIsCopiedIntoRows) {
  // The iterative methods copy a column-major A of at least 257 columns into rows: the same
  // arithmetic as for the row-major A, bit for bit. Direct and sketch-and-solve read it in
  // place.
  const auto A = gaussian(1500, 300, 5);
  const auto B = gaussian(1500, 1, 6);
  const nl::ColMatrix<double> Acol = A;
  for (const auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Diagonal}) {
    const auto by_rows = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B,
                                                 options(method));
    const auto copied = nl::lstsq_dense<double>(nl::ConstColMatrixRef<double>(Acol), B,
                                                options(method));
    EXPECT_TRUE(by_rows.converged);
    EXPECT_EQ(copied.x, by_rows.x);
    EXPECT_EQ(copied.n_iter, by_rows.n_iter);
    EXPECT_EQ(copied.n_passes, by_rows.n_passes);
    EXPECT_LT(rel(by_rows.x, reference(A, B)), 1e-10);
  }
  for (const auto method : {nl::LstsqMethod::Direct, nl::LstsqMethod::Sketch}) {
    const auto in_place = nl::lstsq_dense<double>(nl::ConstColMatrixRef<double>(Acol), B,
                                                  options(method));
    const auto by_rows = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B,
                                                 options(method));
    EXPECT_LT(rel(in_place.x, by_rows.x), 1e-12);
  }
}

TEST(Lstsq, SparseCsrAndCscMatchDense) {
  const nl::Index n = 2000, d = 25;
  nl::rng::Stream s(9, 2);
  std::vector<std::int64_t> indptr{0}, indices;
  std::vector<double> data;
  nl::RowMatrix<double> dense = nl::RowMatrix<double>::Zero(n, d);
  for (nl::Index i = 0; i < n; ++i) {
    for (nl::Index j = 0; j < d; ++j)
      if (s.uniform() < 0.2 || j == i % d) {
        indices.push_back(j);
        data.push_back(s.normal());
        dense(i, j) = data.back();
      }
    indptr.push_back(static_cast<std::int64_t>(indices.size()));
  }
  const auto B = gaussian(n, 1, 5);
  const auto X = reference(dense, B);
  nl::SparseView<double> csr{n, d, true, indptr.data(), indices.data(), data.data()};
  const auto r = nl::lstsq_sparse(csr, B, options(nl::LstsqMethod::Precondition));
  EXPECT_LT(rel(r.x, X), 1e-12);
  // The same matrix as CSC of its transpose's layout: build column-compressed arrays.
  const Eigen::SparseMatrix<double> sp = dense.sparseView();
  std::vector<std::int64_t> cptr(sp.outerIndexPtr(), sp.outerIndexPtr() + d + 1);
  std::vector<std::int64_t> cidx(sp.innerIndexPtr(), sp.innerIndexPtr() + sp.nonZeros());
  nl::SparseView<double> csc{n, d, false, cptr.data(), cidx.data(), sp.valuePtr()};
  const auto rc = nl::lstsq_sparse(csc, B, options(nl::LstsqMethod::Precondition));
  EXPECT_LT(rel(rc.x, X), 1e-12);
  for (const auto* view : {&csr, &csc}) {
    const auto rd = nl::lstsq_sparse(*view, B, options(nl::LstsqMethod::Diagonal));
    EXPECT_TRUE(rd.converged);
    EXPECT_EQ(rd.sketch_size, 0);
    EXPECT_LT(rel(rd.x, X), 1e-12);
  }
}

TEST(Lstsq, SparseThirtyTwoBitIndicesMatchSixtyFourBit) {
  const nl::Index n = 1500, d = 20;
  RandomCsr A = random_csr(n, d, nl::rng::Stream(31, 2), 0.3, true,
                           [](nl::rng::Stream& s) { return s.normal(); });
  const auto& indptr = A.indptr;
  const auto& indices = A.indices;
  auto& data = A.data;
  const nl::RowMatrix<double>& dense = A.dense;
  const std::vector<std::int32_t> indptr32(indptr.begin(), indptr.end());
  const std::vector<std::int32_t> indices32(indices.begin(), indices.end());
  const auto B = gaussian(n, 2, 32);
  const nl::SparseView<double> csr64{n, d, true, indptr.data(), indices.data(), data.data()};
  const nl::SparseView32<double> csr32{n, d, true, indptr32.data(), indices32.data(), data.data()};
  Eigen::SparseMatrix<double> csc = dense.sparseView();
  csc.makeCompressed();
  const std::vector<std::int32_t> cptr32(csc.outerIndexPtr(), csc.outerIndexPtr() + d + 1);
  const std::vector<std::int32_t> cidx32(csc.innerIndexPtr(), csc.innerIndexPtr() + csc.nonZeros());
  const nl::SparseView32<double> csc32{n, d, false, cptr32.data(), cidx32.data(), csc.valuePtr()};
  const auto X = reference(dense, B);
  for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Sketch,
                      nl::LstsqMethod::Direct, nl::LstsqMethod::Diagonal}) {
    const auto o = options(method);
    const auto r64 = nl::lstsq_sparse(csr64, B, o);
    const auto r32 = nl::lstsq_sparse(csr32, B, o);
    EXPECT_LT(rel(r32.x, r64.x), 1e-13);  // the same arithmetic, up to FMA contraction
    EXPECT_NEAR(r32.residual_norm[0], r64.residual_norm[0], 1e-13 * r64.residual_norm[0]);
    EXPECT_NEAR(r32.residual_norm[1], (dense * r32.x - B).col(1).norm(), 1e-10);
    const auto rc = nl::lstsq_sparse(csc32, B, o);
    if (method != nl::LstsqMethod::Sketch) EXPECT_LT(rel(rc.x, X), 1e-11);
  }
  std::vector<std::int32_t> bad = indices32;
  bad[7] = static_cast<std::int32_t>(d);
  const nl::SparseView32<double> out_of_range{n, d, true, indptr32.data(), bad.data(),
                                              data.data()};
  EXPECT_THROW(nl::lstsq_sparse(out_of_range, B, options(nl::LstsqMethod::Diagonal)),
               std::invalid_argument);
  std::vector<std::int32_t> decreasing = indptr32;
  std::swap(decreasing[5], decreasing[6]);
  const nl::SparseView32<double> unordered{n, d, true, decreasing.data(), indices32.data(),
                                           data.data()};
  EXPECT_THROW(nl::lstsq_sparse(unordered, B, options(nl::LstsqMethod::Diagonal)),
               std::invalid_argument);
}

TEST(Lstsq, DiagonalHandlesBadScalingAndZeroColumns) {
  auto A = gaussian(1500, 20, 21);
  for (nl::Index j = 0; j < 20; ++j) A.col(j) *= std::pow(10.0, (j % 7) - 3);
  A.col(5).setZero();
  const auto B = gaussian(1500, 2, 22);
  const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B,
                                         options(nl::LstsqMethod::Diagonal));
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.x.row(5).norm(), 0.0);  // a zero column keeps x_j = 0 (the minimum-norm choice)
  nl::RowMatrix<double> A_kept(1500, 19);
  A_kept << A.leftCols(5), A.rightCols(14);
  const auto X = reference(A_kept, B);
  nl::RowMatrix<double> x_kept(19, 2);
  x_kept << r.x.topRows(5), r.x.bottomRows(14);
  // Compared in the column-scaled coordinates ||a_j|| x_j, where the problem is well
  // conditioned (in x itself the scaling alone makes cond 1e6, for the reference QR too).
  // The stopping rule is normwise (tol ||A|| ||x||, as LAPACK's backward error), and with
  // column norms spread over 1e6 that allows about tol * 1e6 / 10 here, hence 1e-9.
  const Eigen::VectorXd norms = A_kept.colwise().norm().transpose();
  EXPECT_LT(rel(norms.asDiagonal() * x_kept, norms.asDiagonal() * X), 1e-9);
}

TEST(Lstsq, RidgeSolvesTheNormalEquations) {
  const auto A = gaussian(800, 20, 6);
  const auto B = gaussian(800, 1, 7);
  for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Direct}) {
    auto o = options(method);
    o.reg = 3.0;
    const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
    const nl::RowMatrix<double> M =
        A.transpose() * A + 3.0 * nl::RowMatrix<double>::Identity(20, 20);
    const nl::RowMatrix<double> X = M.ldlt().solve(A.transpose() * B);
    EXPECT_LT(rel(r.x, X), 1e-11);
  }
}

TEST(Lstsq, RankDeficientGivesMinimumNorm) {
  const nl::RowMatrix<double> A = gaussian(900, 10, 8) * gaussian(10, 30, 9);  // rank 10
  const auto B = gaussian(900, 1, 10);
  const nl::RowMatrix<double> X = A.completeOrthogonalDecomposition().solve(B);
  for (auto method : {nl::LstsqMethod::Precondition, nl::LstsqMethod::Direct}) {
    const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, options(method));
    EXPECT_EQ(r.rank, 10);
    EXPECT_LT(rel(r.x, X), 1e-9);
  }
}

TEST(Lstsq, SketchAndSolveIsNearOptimalAndDeterministic) {
  const auto A = gaussian(4000, 20, 11);
  const auto B = gaussian(4000, 1, 12);
  const double opt = (A * reference(A, B) - B).norm();
  auto o = options(nl::LstsqMethod::Sketch, nl::SketchKind::SRHT);
  o.sketch_size = 400;
  const auto r1 = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  const auto r2 = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  EXPECT_EQ(r1.x, r2.x);
  EXPECT_GE(r1.residual_norm[0], opt * (1 - 1e-12));
  EXPECT_LE(r1.residual_norm[0], 1.2 * opt);
}

TEST(Lstsq, SrhtSketchAndSolveInSinglePrecisionWhereItsRoundingIsNegligible) {
  // Sketch-and-solve with srht forms the sketch in single precision and keeps the solution
  // when the rounding's share of the residual is negligible: then within about 1e-5 of the
  // solution of the sketched problem min ||S (A x - b)|| (S explicit, double), in two passes.
  // A near-consistent column, or an ill-conditioned A, is sketched again in double (four or
  // three passes) and matches it to double precision.
  const nl::Index n = 3000, d = 30;
  const auto A = gaussian(n, d, 21);
  auto o = options(nl::LstsqMethod::Sketch, nl::SketchKind::SRHT);
  o.sketch_size = 240;
  nl::SketchSpec spec;
  spec.kind = nl::SketchKind::SRHT;
  spec.m = o.sketch_size;
  spec.n = n;
  spec.seed = o.seed;
  const nl::RowMatrix<double> S = nl::sketch_matrix(spec);
  auto sketched = [&](const nl::RowMatrix<double>& M, const nl::RowMatrix<double>& B) {
    return reference(S * M, S * B);
  };
  nl::RowMatrix<double> B = gaussian(n, 2, 22);
  B.col(1) = A * gaussian(d, 1, 23) + 1e-9 * B.col(1);  // near-consistent
  const auto r = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A), B, o);
  const nl::RowMatrix<double> X = sketched(A, B);
  EXPECT_EQ(r.n_passes, 4);
  const double noisy = rel(r.x.col(0), X.col(0));
  EXPECT_GT(noisy, 1e-12);  // from the single-precision sketch
  EXPECT_LT(noisy, 1e-5);
  EXPECT_LT(rel(r.x.col(1), X.col(1)), 1e-12);  // sketched again in double
  const auto r0 = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(A),
                                          nl::RowMatrix<double>(B.col(0)), o);
  EXPECT_EQ(r0.n_passes, 2);
  EXPECT_LT(rel(r0.x, r.x.col(0)), 1e-12);  // as if solved alone
  EXPECT_NEAR(r0.residual_norm[0], r.residual_norm[0], 1e-12 * r.residual_norm[0]);

  nl::RowMatrix<double> Ac = A;  // cond ~ 1e7 from the column scaling
  for (nl::Index j = 0; j < d; ++j) Ac.col(j) *= std::pow(10.0, -7.0 * j / (d - 1));
  const auto rc = nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(Ac),
                                          nl::RowMatrix<double>(B.col(0)), o);
  EXPECT_EQ(rc.n_passes, 3);
  const nl::RowMatrix<double> Xc = sketched(Ac, nl::RowMatrix<double>(B.col(0)));
  EXPECT_LT(rel(rc.x, Xc), 1e-8);
}

TEST(Lstsq, DefaultSketchSizes) {
  using nl::LstsqMethod;
  EXPECT_EQ(nl::lstsq_default_sketch_size(LstsqMethod::Sketch, 100000, 200, 2e7, 0.5), 800);
  EXPECT_EQ(nl::lstsq_default_sketch_size(LstsqMethod::Sketch, 500, 200, 1e5, 0.5), 500);
  // At tol = 1e-6 (t = 1): c = 30 sqrt(nnz / d^3) within [4, 20]: 20 at 200000 x 200,
  // 9.49 at 100000 x 1000, the floor 4 at 10000 x 1000.
  auto size = [](nl::Index n, nl::Index d, double tol) {
    return nl::lstsq_default_sketch_size(LstsqMethod::Precondition, n, d,
                                         static_cast<double>(n) * static_cast<double>(d), 0.5,
                                         tol);
  };
  EXPECT_EQ(size(200000, 200, 1e-6), 4000);
  EXPECT_EQ(size(100000, 1000, 1e-6), 9487);
  EXPECT_EQ(size(10000, 1000, 1e-6), 4000);
  // c = 20, capped at the sparse sign sketch's panel limit, which never goes below 4 d.
  EXPECT_EQ(size(1000000, 1000, 1e-6), nl::kSparseSignPanelRows);
  EXPECT_EQ(size(1000000, 5000, 1e-6), 20000);
  EXPECT_EQ(size(3000, 1000, 1e-6), 3000);
  // The default tol (tol = 0: 4 eps) asks for about 2.5x the passes, t = sqrt(log(1 /
  // (4 eps)) / log(1e6)) = 1.584: c = 20 t = 31.7 at 200000 x 200, 15.03 at 100000 x 1000.
  EXPECT_EQ(size(200000, 200, 0.0), 6336);
  EXPECT_EQ(size(100000, 1000, 0.0), 15026);
  // A looser tol, a smaller sketch (t = sqrt(1/2) at 1e-3), never below 4 d; a tol of 1 or
  // more, the floor.
  EXPECT_EQ(size(100000, 1000, 1e-3), 6709);
  EXPECT_EQ(size(50000, 100, 1e-3), 1415);
  EXPECT_EQ(size(100000, 1000, 2.0), 4000);
  EXPECT_THROW(size(100, 10, -1.0), std::invalid_argument);
}

TEST(Lstsq, BadArgumentsThrow) {
  const auto A = gaussian(50, 5, 13);
  const auto B = gaussian(49, 1, 14);
  const nl::ConstRowMatrixRef<double> Aref(A);
  EXPECT_THROW(nl::lstsq_dense<double>(Aref, B, options(nl::LstsqMethod::Direct)),
               std::invalid_argument);
  const auto Bok = gaussian(50, 1, 15);
  auto o = options(nl::LstsqMethod::Precondition);
  o.reg = -1;
  EXPECT_THROW(nl::lstsq_dense<double>(Aref, Bok, o), std::invalid_argument);
  o = options(nl::LstsqMethod::Precondition);
  o.sketch_size = 3;
  EXPECT_THROW(nl::lstsq_dense<double>(Aref, Bok, o), std::invalid_argument);
  const auto wide = gaussian(5, 50, 16);
  EXPECT_THROW(nl::lstsq_dense<double>(nl::ConstRowMatrixRef<double>(wide), gaussian(5, 1, 17),
                                       options(nl::LstsqMethod::Precondition)),
               std::invalid_argument);
}

TEST(Lstsq, DiagonalLooseTolSkipsTheConfirmingPassWithinItsBound) {
  // Sparse CSR, tol = 1e-6: the drift bound of the Jacobi CG recurrences stands in for the
  // confirming pass (n_passes = n_iter + 1); the answer and residual norm still hold against
  // the reference. At the default tol the pass is made. Malformed structure still throws
  // from the first pass, which validates it.
  const nl::Index n = 20000, d = 30;
  RandomCsr A = random_csr(n, d, nl::rng::Stream(77, 3), 0.1, false,
                           [](nl::rng::Stream& s) { return s.uniform(); });
  const std::vector<std::int32_t> indptr(A.indptr.begin(), A.indptr.end());
  const std::vector<std::int32_t> indices(A.indices.begin(), A.indices.end());
  std::vector<double>& data = A.data;
  const nl::RowMatrix<double>& dense = A.dense;
  const auto B = gaussian(n, 1, 78);
  const auto X = reference(dense, B);
  const nl::SparseView32<double> csr{n, d, true, indptr.data(), indices.data(), data.data()};
  auto o = options(nl::LstsqMethod::Diagonal);
  o.tol = 1e-6;
  const auto loose = nl::lstsq_sparse(csr, B, o);
  EXPECT_TRUE(loose.converged);
  EXPECT_EQ(loose.n_passes, loose.n_iter + 1);
  EXPECT_LT(rel(loose.x, X), 1e-4);
  const double r = (dense * loose.x - B).norm();
  EXPECT_NEAR(loose.residual_norm[0], r, 1e-8 * r);
  const auto tight = nl::lstsq_sparse(csr, B, options(nl::LstsqMethod::Diagonal));
  EXPECT_TRUE(tight.converged);
  EXPECT_GE(tight.n_passes, tight.n_iter + 2);
  EXPECT_LT(rel(tight.x, X), 1e-11);
  std::vector<std::int32_t> bad = indices;
  bad.back() = -1;
  const nl::SparseView32<double> negative{n, d, true, indptr.data(), bad.data(), data.data()};
  EXPECT_THROW(nl::lstsq_sparse(negative, B, o), std::invalid_argument);
}

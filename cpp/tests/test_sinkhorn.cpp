// Core tests of the matrix Sinkhorn solvers against a plain log-domain reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "nearlinear/sinkhorn.hpp"
#include "nearlinear/sinkhorn_log.hpp"
#include "nearlinear/sns.hpp"

using namespace nearlinear;

namespace {

struct Problem {
  RowMatrix<double> M;
  Eigen::VectorXd a, b;
};

Problem random_problem(int n, int m, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> U(0, 1);
  Eigen::MatrixXd x(n, 2), y(m, 2);
  for (int i = 0; i < n; ++i) x.row(i) << U(gen), U(gen);
  for (int j = 0; j < m; ++j) y.row(j) << U(gen), U(gen);
  Problem p{RowMatrix<double>(n, m), Eigen::VectorXd(n), Eigen::VectorXd(m)};
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) p.M(i, j) = (x.row(i) - y.row(j)).squaredNorm();
  p.M /= p.M.maxCoeff();
  for (int i = 0; i < n; ++i) p.a[i] = 0.1 + U(gen);
  for (int j = 0; j < m; ++j) p.b[j] = 0.1 + U(gen);
  p.a /= p.a.sum();
  p.b /= p.b.sum();
  return p;
}

// Textbook log-domain Sinkhorn (Peyre & Cuturi, Computational OT, Remark 4.23).
RowMatrix<double> reference_plan(const Problem& p, double reg) {
  const Eigen::Index n = p.M.rows(), m = p.M.cols();
  Eigen::VectorXd f = Eigen::VectorXd::Zero(n), g = Eigen::VectorXd::Zero(m);
  auto lse = [](const Eigen::ArrayXd& v) { const double mx = v.maxCoeff(); return mx + std::log((v - mx).exp().sum()); };
  for (int it = 0; it < 200000; ++it) {
    for (Eigen::Index i = 0; i < n; ++i)
      f[i] = reg * (std::log(p.a[i]) - lse((g.transpose() - p.M.row(i)).transpose().array() / reg));
    double err = 0;
    for (Eigen::Index j = 0; j < m; ++j) {
      const double gj = reg * (std::log(p.b[j]) - lse((f - p.M.col(j)).array() / reg));
      err += std::abs(p.b[j] * std::exp((g[j] - gj) / reg) - p.b[j]);
      g[j] = gj;
    }
    if (err < 1e-14) break;
  }
  RowMatrix<double> P(n, m);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < m; ++j) P(i, j) = std::exp((f[i] + g[j] - p.M(i, j)) / reg);
  return P;
}

double violation(const RowMatrix<double>& P, const Problem& p) {
  return (P.rowwise().sum() - p.a).lpNorm<1>() + (P.colwise().sum().transpose() - p.b).lpNorm<1>();
}

const Eigen::VectorXd kNone;

}  // namespace

TEST(Sinkhorn, AllMethodsMatchLogDomainReference) {
  const Problem p = random_problem(40, 30, 1);
  const double reg = 0.02;
  const RowMatrix<double> expected = reference_plan(p, reg);
  SinkhornOptions o;
  o.max_iter = 100000;
  o.tol = 1e-12;
  for (int method = 0; method < 3; ++method) {
    SinkhornResult<double> r =
        method == 0 ? sinkhorn_scaling<double>(p.M, p.a, p.b, reg, kNone, kNone, o)
        : method == 1 ? sinkhorn_log<double>(p.M, p.a, p.b, reg, kNone, kNone, o)
                      : sinkhorn_newton_sparse<double>(p.M, p.a, p.b, reg, kNone, kNone, o);
    ASSERT_TRUE(r.converged) << "method " << method;
    EXPECT_LE(violation(r.plan, p), 1e-11);
    EXPECT_LT((r.plan - expected).cwiseAbs().maxCoeff(), 1e-9 * expected.maxCoeff()) << "method " << method;
    // Potentials reproduce the plan.
    for (int i = 0; i < 40; i += 7)
      for (int j = 0; j < 30; j += 5)
        EXPECT_NEAR(r.plan(i, j), std::exp((r.f[i] + r.g[j] - p.M(i, j)) / reg), 1e-9 * expected.maxCoeff());
  }
}

TEST(Sinkhorn, FloatKernelIsCloseToDouble) {
  const Problem p = random_problem(50, 35, 2);
  const RowMatrix<float> Mf = p.M.cast<float>();
  SinkhornOptions o;
  o.tol = 1e-8;
  const auto rd = sinkhorn_log<double>(p.M, p.a, p.b, 0.05, kNone, kNone, o);
  const auto rf = sinkhorn_log<float>(Mf, p.a, p.b, 0.05, kNone, kNone, o);
  ASSERT_TRUE(rf.converged);
  EXPECT_LT((rf.plan.cast<double>() - rd.plan).cwiseAbs().maxCoeff(), 1e-5 * rd.plan.maxCoeff());
}

TEST(Sinkhorn, LogDomainStableWhereClassicUnderflows) {
  const Problem p = random_problem(60, 60, 3);
  SinkhornOptions o;
  o.max_iter = 200000;
  o.tol = 1e-8;
  RowMatrix<double> M = p.M;
  M.row(0).array() += 1.0;  // a row of exp(-M/reg) that is all zeros at reg = 1e-3
  const auto classic = sinkhorn_scaling<double>(M, p.a, p.b, 1e-3, kNone, kNone, o);
  EXPECT_TRUE(classic.underflow);
  const auto stable = sinkhorn_log<double>(M, p.a, p.b, 1e-3, kNone, kNone, o);
  EXPECT_TRUE(stable.converged);
  EXPECT_TRUE(stable.plan.allFinite());
  EXPECT_GT(stable.n_absorb, 0);
  EXPECT_LE(violation(stable.plan, p), 1e-8);
}

TEST(Sinkhorn, NewtonStepsAndSafeguardConverge) {
  const Problem p = random_problem(120, 100, 4);
  SinkhornOptions o;
  o.max_iter = 100000;
  const auto sns = sinkhorn_newton_sparse<double>(p.M, p.a, p.b, 1e-3, kNone, kNone, o);
  const auto log = sinkhorn_log<double>(p.M, p.a, p.b, 1e-3, kNone, kNone, o);
  ASSERT_TRUE(sns.converged && log.converged);
  EXPECT_GT(sns.n_newton, 0);
  EXPECT_EQ(sns.n_iter, sns.n_newton + sns.n_sinkhorn);
  EXPECT_LT(sns.n_iter, log.n_iter);
  EXPECT_LT((sns.plan - log.plan).cwiseAbs().maxCoeff(), 1e-8);
}

TEST(Sinkhorn, NonConvergenceIsReported) {
  const Problem p = random_problem(30, 30, 5);
  SinkhornOptions o;
  o.max_iter = 3;
  const auto r = sinkhorn_log<double>(p.M, p.a, p.b, 1e-3, kNone, kNone, o);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.n_iter, 3);
  EXPECT_GT(r.err, o.tol);
}

TEST(Sinkhorn, BadInputThrows) {
  const Problem p = random_problem(5, 4, 6);
  SinkhornOptions o;
  EXPECT_THROW(sinkhorn_log<double>(p.M, p.a, p.b, 0.0, kNone, kNone, o), std::invalid_argument);
  EXPECT_THROW(sinkhorn_log<double>(p.M, p.a, 2 * p.b, 0.1, kNone, kNone, o), std::invalid_argument);
  EXPECT_THROW(sinkhorn_log<double>(p.M, p.b, p.a, 0.1, kNone, kNone, o), std::invalid_argument);
  RowMatrix<double> bad = p.M;
  bad(1, 1) = -1;
  EXPECT_THROW(sinkhorn_scaling<double>(bad, p.a, p.b, 0.1, kNone, kNone, o), std::invalid_argument);
  bad(1, 1) = std::nan("");
  EXPECT_THROW(sinkhorn_newton_sparse<double>(bad, p.a, p.b, 0.1, kNone, kNone, o), std::invalid_argument);
  Eigen::VectorXd a = p.a;
  a[0] = -a[0];
  EXPECT_THROW(sinkhorn_log<double>(p.M, a, p.b, 0.1, kNone, kNone, o), std::invalid_argument);
}

TEST(Sinkhorn, WeightBelowKernelFloorConverges) {
  // A weight whose stabilised kernel row (column) is stored as zeros: a mass the kernel
  // cannot hold, not an underflow. Each method must converge and match the reference.
  SinkhornOptions o;
  o.max_iter = 5000;
  for (int side = 0; side < 2; ++side) {
    Problem p = random_problem(20, 15, 7);
    Eigen::VectorXd& w = side == 0 ? p.a : p.b;
    w[0] = 1e-280;
    w /= w.sum();
    const RowMatrix<double> expected = reference_plan(p, 0.05);
    const RowMatrix<float> Mf = p.M.cast<float>();
    for (int method = 0; method < 3; ++method) {
      o.tol = 1e-9;
      const SinkhornResult<double> r =
          method == 0 ? sinkhorn_scaling<double>(p.M, p.a, p.b, 0.05, kNone, kNone, o)
          : method == 1 ? sinkhorn_log<double>(p.M, p.a, p.b, 0.05, kNone, kNone, o)
                        : sinkhorn_newton_sparse<double>(p.M, p.a, p.b, 0.05, kNone, kNone, o);
      ASSERT_TRUE(r.converged) << "side " << side << " method " << method;
      EXPECT_LT(r.n_iter, 1000);
      EXPECT_LT(r.n_absorb, 50);
      if (method == 2) EXPECT_GT(r.n_newton, 0);  // the tiny column is left out of Newton's system
      EXPECT_LE(violation(r.plan, p), 1e-9);
      EXPECT_LT((r.plan - expected).cwiseAbs().maxCoeff(), 1e-9);
      // Float kernel: the cutoff is exp(-85); 1e-280 is far below it.
      o.tol = 1e-6;
      const SinkhornResult<float> rf =
          method == 0 ? sinkhorn_scaling<float>(Mf, p.a, p.b, 0.05, kNone, kNone, o)
          : method == 1 ? sinkhorn_log<float>(Mf, p.a, p.b, 0.05, kNone, kNone, o)
                        : sinkhorn_newton_sparse<float>(Mf, p.a, p.b, 0.05, kNone, kNone, o);
      ASSERT_TRUE(rf.converged) << "float, side " << side << " method " << method;
      EXPECT_LT(rf.n_iter, 1000);
      EXPECT_LT((rf.plan.cast<double>() - expected).cwiseAbs().maxCoeff(), 1e-6);
    }
  }
}

TEST(Sinkhorn, ErrorIsMeasuredEvenAfterOneIteration) {
  Problem p = random_problem(20, 15, 8);
  p.a[0] = 1e-280;
  p.a /= p.a.sum();
  SinkhornOptions o;
  o.max_iter = 1;
  const auto r = sinkhorn_log<double>(p.M, p.a, p.b, 0.05, kNone, kNone, o);
  EXPECT_EQ(r.n_iter, 1);
  ASSERT_EQ(r.err_history.size(), 1u);
  EXPECT_EQ(r.err, r.err_history.back());
  EXPECT_NEAR(r.err, violation(r.plan, p), 1e-12);
  EXPECT_GT(r.err, 0);
}

TEST(Sinkhorn, EpsScalingStagesCountInMaxIter) {
  const Problem p = random_problem(30, 30, 9);
  SinkhornOptions o;
  o.eps_scaling_factor = 2;
  for (int max_iter : {1, 2, 3, 10, 50}) {
    o.max_iter = max_iter;
    const auto r = sinkhorn_log<double>(p.M, p.a, p.b, 1e-3, kNone, kNone, o);
    EXPECT_GE(r.n_iter, 1);
    EXPECT_LE(r.n_iter, max_iter);
    EXPECT_FALSE(r.err_history.empty());
    EXPECT_TRUE(r.plan.allFinite());
  }
  // Enough budget: the same plan as without epsilon scaling.
  o.max_iter = 100000;
  o.tol = 1e-11;
  const auto scaled = sinkhorn_log<double>(p.M, p.a, p.b, 1e-2, kNone, kNone, o);
  o.eps_scaling_factor = 0;
  const auto plain = sinkhorn_log<double>(p.M, p.a, p.b, 1e-2, kNone, kNone, o);
  ASSERT_TRUE(scaled.converged && plain.converged);
  EXPECT_LT((scaled.plan - plain.plan).cwiseAbs().maxCoeff(), 1e-10);
}

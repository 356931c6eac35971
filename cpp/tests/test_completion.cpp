#include <gtest/gtest.h>

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "nearlinear/completion.hpp"
#include "nearlinear/parallel.hpp"

using namespace nearlinear;
using namespace nearlinear::completion;

namespace {

struct Problem {
  RowMatrix<double> X, Y;  // truth = X Y^T
  std::vector<std::int64_t> rows, cols;
  std::vector<double> values;
};

Problem low_rank(Index m, Index n, Index k, Index nnz, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Problem p;
  p.X.resize(m, k);
  p.Y.resize(n, k);
  for (Index i = 0; i < p.X.size(); ++i) p.X.data()[i] = normal(gen);
  for (Index i = 0; i < p.Y.size(); ++i) p.Y.data()[i] = normal(gen);
  std::set<std::int64_t> seen;
  std::uniform_int_distribution<std::int64_t> pick(0, m * n - 1);
  while (static_cast<Index>(seen.size()) < nnz) seen.insert(pick(gen));
  for (auto lin : seen) {
    p.rows.push_back(lin / n);
    p.cols.push_back(lin % n);
  }
  // Shuffle so rows arrive out of order.
  std::vector<std::size_t> order(p.rows.size());
  for (std::size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::shuffle(order.begin(), order.end(), gen);
  std::vector<std::int64_t> r(order.size()), c(order.size());
  for (std::size_t t = 0; t < order.size(); ++t) {
    r[t] = p.rows[order[t]];
    c[t] = p.cols[order[t]];
    p.values.push_back(p.X.row(r[t]).dot(p.Y.row(c[t])));
  }
  p.rows = r;
  p.cols = c;
  return p;
}

Observations observe(const Problem& p, Index m, Index n) {
  return make_observations(m, n, p.rows.data(), p.cols.data(), p.values.data(),
                           static_cast<Index>(p.values.size()));
}

}  // namespace

TEST(CompletionObservations, BothOrdersHoldEveryEntrySorted) {
  const Problem p = low_rank(30, 20, 2, 200, 1);
  const Observations obs = observe(p, 30, 20);
  ASSERT_EQ(obs.nnz(), 200);
  for (Index i = 0; i < 30; ++i)
    for (auto q = obs.row_ptr[i] + 1; q < obs.row_ptr[i + 1]; ++q)
      EXPECT_LT(obs.row_idx[q - 1], obs.row_idx[q]);
  double row_sum = 0, col_sum = 0;
  for (Index i = 0; i < 30; ++i)
    for (auto q = obs.row_ptr[i]; q < obs.row_ptr[i + 1]; ++q)
      row_sum += obs.row_val[q] * (i + 1) * (obs.row_idx[q] + 7);
  for (Index j = 0; j < 20; ++j)
    for (auto q = obs.col_ptr[j]; q < obs.col_ptr[j + 1]; ++q)
      col_sum += obs.col_val[q] * (obs.col_idx[q] + 1) * (j + 7);
  EXPECT_NEAR(row_sum, col_sum, 1e-9 * std::abs(row_sum));
}

TEST(CompletionObservations, BadInputThrows) {
  std::vector<std::int64_t> r{0, 1, 1}, c{0, 1, 1};
  std::vector<double> v{1, 2, 3};
  EXPECT_THROW(make_observations(2, 2, r.data(), c.data(), v.data(), 3), std::invalid_argument);
  c = {0, 1, 2};
  EXPECT_THROW(make_observations(2, 2, r.data(), c.data(), v.data(), 3), std::invalid_argument);
  c = {0, 1, 0};
  r = {0, -1, 1};
  EXPECT_THROW(make_observations(2, 2, r.data(), c.data(), v.data(), 3), std::invalid_argument);
  r = {0, 1, 1};
  v = {1, NAN, 3};
  EXPECT_THROW(make_observations(2, 2, r.data(), c.data(), v.data(), 3), std::invalid_argument);
  v = {1, 2, 3};
  EXPECT_THROW(make_observations(0, 2, r.data(), c.data(), v.data(), 3), std::invalid_argument);
  EXPECT_THROW(make_observations(Index(1) << 31, 2, r.data(), c.data(), v.data(), 3),
               std::invalid_argument);
  EXPECT_NO_THROW(make_observations(2, 2, r.data(), c.data(), v.data(), 3));
}

TEST(CompletionRowSolve, ReachesRequestedRelativeResidual) {
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal;
  const Index n = 200, d = 16;
  RowMatrix<double> A(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) A(i, j) = normal(gen) * (1.0 + j);  // condition ~ d^2
  Vector<double> y(n), lambda = Vector<double>::Constant(d, 0.3), x0(d);
  for (Index i = 0; i < n; ++i) y[i] = normal(gen);
  for (Index j = 0; j < d; ++j) x0[j] = normal(gen);
  RowMatrix<double> G = A.transpose() * A;
  G.diagonal() += lambda;
  const Vector<double> exact = G.llt().solve(A.transpose() * y);
  auto residual = [&](const Vector<double>& x) { return (A.transpose() * y - G * x).norm(); };
  RowMatrix<double> P = G / static_cast<double>(n);
  const RowMatrix<double> L = P.llt().matrixL();
  for (const RowMatrix<double>& precond : {RowMatrix<double>(), L}) {
    for (double tol : {1e-1, 1e-3, 1e-8}) {
      Vector<double> x = x0;
      const int it = pcg_row_solve(A, y.data(), lambda.data(), precond, tol, 500, x.data());
      EXPECT_GE(it, 1);
      EXPECT_LE(residual(x), tol * residual(x0) * (1 + 1e-9));
    }
  }
  // An exact preconditioner converges in one iteration.
  const RowMatrix<double> exact_L = G.llt().matrixL();
  Vector<double> x = x0;
  EXPECT_EQ(pcg_row_solve(A, y.data(), lambda.data(), exact_L, 1e-10, 50, x.data()), 1);
  EXPECT_LT((x - exact).norm(), 1e-8 * exact.norm());
  // A warm start at the solution needs no iteration.
  x = exact;
  EXPECT_LE(pcg_row_solve(A, y.data(), lambda.data(), exact_L, 0.5, 50, x.data()), 1);
}

class CompletionRecovery : public ::testing::TestWithParam<Method> {};

TEST_P(CompletionRecovery, NoiselessLowRankIsRecoveredExactly) {
  const Index m = 300, n = 250, k = 4;
  const Problem p = low_rank(m, n, k, 7500, 2);  // 10% observed
  Options opt;
  opt.rank = k;
  opt.method = GetParam();
  opt.reg = 0.0;
  opt.biases = false;
  opt.seed = 3;
  Solver solver(observe(p, m, n), opt);
  solver.initialize();
  for (int sweep = 0; sweep < 80 && solver.train_rmse() > 1e-12; ++sweep) solver.sweep();
  const RowMatrix<double> truth = p.X * p.Y.transpose();
  const RowMatrix<double> fit = solver.U() * solver.V().transpose();
  EXPECT_LT((fit - truth).norm() / truth.norm(), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Methods, CompletionRecovery,
                         ::testing::Values(Method::ALS, Method::RobustAM));

TEST(CompletionSolver, ThreadCountDoesNotChangeTheResult) {
  const Problem p = low_rank(200, 150, 3, 4000, 4);
  Options opt;
  opt.rank = 3;
  opt.reg = 0.1;
  opt.seed = 9;
  const int before = get_num_threads();
  std::vector<RowMatrix<double>> U;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    Solver solver(observe(p, 200, 150), opt);
    solver.initialize();
    for (int s = 0; s < 3; ++s) solver.sweep();
    U.push_back(solver.U());
  }
  set_num_threads(before);
  EXPECT_EQ(U[0], U[1]);
  EXPECT_EQ(U[0], U[2]);
}

TEST(CompletionSolver, GibbsSweepsAreDeterministicAcrossThreadCounts) {
  // Rank 20 on 50k observations: about 2.2e7 flops per half-sweep, above the threshold at
  // which loops go parallel.
  const Problem p = low_rank(500, 400, 20, 50000, 7);
  Options opt;
  opt.rank = 20;
  opt.reg = 0.1;
  opt.bias_reg = 0.1;
  opt.seed = 3;
  const int before = get_num_threads();
  std::vector<RowMatrix<double>> U, means;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    Solver solver(observe(p, 500, 400), opt);
    solver.initialize();
    solver.sweep();
    for (std::uint64_t s = 0; s < 2; ++s) solver.gibbs_sweep(s);
    EXPECT_GT(solver.noise_precision(), 0.0);
    U.push_back(solver.U());
    means.push_back(solver.column_means());
  }
  set_num_threads(before);
  EXPECT_EQ(U[0], U[1]);
  EXPECT_EQ(U[0], U[2]);
  EXPECT_EQ(means[0], means[2]);
  EXPECT_TRUE(U[0].allFinite());
}

TEST(CompletionSolver, BadOptionsThrow) {
  const Problem p = low_rank(10, 8, 2, 40, 6);
  Options opt;
  opt.rank = 9;
  EXPECT_THROW(Solver(observe(p, 10, 8), opt), std::invalid_argument);
  opt.rank = 0;
  EXPECT_THROW(Solver(observe(p, 10, 8), opt), std::invalid_argument);
  opt.rank = 2;
  opt.reg = -1;
  EXPECT_THROW(Solver(observe(p, 10, 8), opt), std::invalid_argument);
  opt.reg = 0;
  opt.inner_tol = 1.0;
  EXPECT_THROW(Solver(observe(p, 10, 8), opt), std::invalid_argument);
  opt.inner_tol = 0.5;
  Solver solver(observe(p, 10, 8), opt);
  EXPECT_THROW(solver.sweep(), std::invalid_argument);  // before initialize()
  EXPECT_THROW(solver.gibbs_sweep(0), std::invalid_argument);
}

TEST(CompletionPredict, MatchesFormulaAndChecksIndices) {
  RowMatrix<double> U(2, 1), V(3, 1);
  U << 1, 2;
  V << 3, 4, 5;
  Vector<double> b(2), c(3);
  b << 0.5, -0.5;
  c << 1, 2, 3;
  std::vector<std::int64_t> r{1, 0}, col{2, 1};
  const Vector<double> out = predict(U, V, b, c, 10.0, r.data(), col.data(), 2);
  EXPECT_DOUBLE_EQ(out[0], 10.0 - 0.5 + 3 + 2 * 5);
  EXPECT_DOUBLE_EQ(out[1], 10.0 + 0.5 + 2 + 1 * 4);
  col[0] = 3;
  EXPECT_THROW(predict(U, V, b, c, 0.0, r.data(), col.data(), 2), std::invalid_argument);
}

// Core tests of the tiled point-cloud Sinkhorn against the matrix solver.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "nearlinear/sinkhorn_log.hpp"
#include "nearlinear/sinkhorn_points.hpp"

using namespace nearlinear;

TEST(SinkhornPoints, EqualsMatrixVersion) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> U(0, 1);
  const int n = 700, m = 530, d = 3;  // several row and column tiles, ragged edges
  RowMatrix<double> x(n, d), y(m, d);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < d; ++k) x(i, k) = U(gen);
  for (int j = 0; j < m; ++j)
    for (int k = 0; k < d; ++k) y(j, k) = U(gen);
  const Eigen::VectorXd a = Eigen::VectorXd::Constant(n, 1.0 / n), b = Eigen::VectorXd::Constant(m, 1.0 / m);
  for (double p : {1.0, 2.0}) {
    RowMatrix<double> M(n, m);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) M(i, j) = std::pow((x.row(i) - y.row(j)).norm(), p);
    SinkhornOptions mo;
    mo.tol = 1e-11;
    const auto matrix = sinkhorn_log<double>(M, a, b, 0.05, Eigen::VectorXd(), Eigen::VectorXd(), mo);
    SinkhornPointsOptions po;
    po.p = p;
    po.tol = 1e-11;
    po.plan = true;
    const auto points = sinkhorn_points<double>(x, y, a, b, 0.05, po);
    ASSERT_TRUE(points.converged);
    EXPECT_LT((points.plan - matrix.plan).cwiseAbs().maxCoeff(), 1e-8 * matrix.plan.maxCoeff());
    EXPECT_NEAR(points.cost, (matrix.plan.array() * M.array()).sum(), 1e-9);
  }
}

TEST(SinkhornPoints, BadInputThrows) {
  RowMatrix<double> x = RowMatrix<double>::Zero(4, 2), y = RowMatrix<double>::Zero(3, 3);
  const Eigen::VectorXd a = Eigen::VectorXd::Constant(4, 0.25), b = Eigen::VectorXd::Constant(3, 1.0 / 3);
  SinkhornPointsOptions o;
  EXPECT_THROW(sinkhorn_points<double>(x, y, a, b, 0.1, o), std::invalid_argument);
  RowMatrix<double> y2 = RowMatrix<double>::Zero(3, 2);
  EXPECT_THROW(sinkhorn_points<double>(x, y2, a, b, -1.0, o), std::invalid_argument);
  EXPECT_THROW(sinkhorn_points<double>(x, y2, a, 2 * b, 0.1, o), std::invalid_argument);
}

TEST(SinkhornPoints, OverflowingCostThrows) {
  // Costs beyond the range of T are refused up front (before, the epsilon-scaling stages
  // started at inf and never ended; without them the cost came out NaN).
  const Eigen::VectorXd half = Eigen::VectorXd::Constant(2, 0.5);
  for (double eps : {0.0, 0.5}) {
    SinkhornPointsOptions o;
    o.eps_scaling = eps;
    RowMatrix<double> x(2, 2), y(2, 2);
    x << 0, 0, 1e200, 0;
    y << 0, 1, 1e200, 1;
    EXPECT_THROW(sinkhorn_points<double>(x, y, half, half, 0.1, o), std::invalid_argument);
    RowMatrix<double> line(2, 1);
    line << 0, 10;
    o.p = 400;
    EXPECT_THROW(sinkhorn_points<double>(line, line, half, half, 0.1, o), std::invalid_argument);
    // 1e20 apart: squared distances 1e40 fit float64 but not float32.
    o.p = 2;
    RowMatrix<double> wide(2, 2);
    wide << 0, 0, 1e20, 0;
    const auto r = sinkhorn_points<double>(wide, wide, half, half, 1e30, o);
    EXPECT_TRUE(std::isfinite(r.cost));
    const RowMatrix<float> wide_f = wide.cast<float>();
    EXPECT_THROW(sinkhorn_points<float>(wide_f, wide_f, half, half, 1e30, o), std::invalid_argument);
  }
}

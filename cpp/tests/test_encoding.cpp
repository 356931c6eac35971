// Unit tests of the hash encoding core (nearlinear/encoding.hpp) and its trainer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "nearlinear/encoding.hpp"
#include "nearlinear/neural_field.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace {

HashGridConfig config(int n, Lattice lattice, int levels = 4, int log2_table = 12) {
  HashGridConfig c;
  c.n_dims = n;
  c.lattice = lattice;
  c.n_levels = levels;
  c.log2_table_size = log2_table;
  c.base_resolution = 3;
  c.per_level_scale = 1.8;
  return c;
}

RowMatrix<float> uniform(Index rows, Index cols, std::uint64_t seed, float lo = 0, float hi = 1) {
  RowMatrix<float> m(rows, cols);
  rng::Stream stream(seed, 7);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(stream.uniform(lo, hi));
  return m;
}

TEST(Encoding, WeightsSumToOneInEveryDimension) {
  for (Lattice lattice : {Lattice::Simplex, Lattice::Cube}) {
    for (int n = 1; n <= 8; ++n) {
      const HashGrid grid(config(n, lattice));
      const RowMatrix<float> params = RowMatrix<float>::Ones(grid.param_rows(), 2);
      const RowMatrix<float> x = uniform(200, n, n);
      RowMatrix<float> out(200, grid.output_dims());
      grid.forward(x, params, out);
      EXPECT_LT((out.array() - 1.0f).abs().maxCoeff(), 2e-6f) << "n = " << n;
    }
  }
}

// Dense simplex levels store only the vertices that points of [0, 1]^n can read, row after row:
// the rows the points touch start at 0, fill most of the range they span, and that range is
// well below the skewed cube's bounding box of R^n vertices, R = floor(N sqrt(n + 1)) + 2.
TEST(Encoding, DenseSimplexLevelsArePacked) {
  for (int n : {2, 3}) {
    HashGridConfig c = config(n, Lattice::Simplex, 2, 14);
    c.base_resolution = 8;
    c.per_level_scale = 1.5;
    const HashGrid grid(c);
    ASSERT_EQ(grid.dense_levels(), std::vector<bool>(2, true)) << "n = " << n;
    const Index N = 100000;
    const RowMatrix<float> x = uniform(N, n, 40 + n);
    const RowMatrix<float> g = RowMatrix<float>::Ones(N, grid.output_dims());
    RowMatrix<float> grad(grid.param_rows(), 2);
    grid.backward_params(x, g, grad);
    for (int l = 0; l < c.n_levels; ++l) {
      Index used = 0, end = 0;
      double total = 0;
      for (Index r = 0; r < grid.table_size(); ++r) {
        const float v = grad(l * grid.table_size() + r, 0);
        total += v;
        if (v != 0.0f) {
          ++used;
          end = r + 1;
        }
      }
      EXPECT_NEAR(total, static_cast<double>(N), 1e-3 * N);  // the weights sum to one
      const double box = std::pow(std::floor(grid.resolutions()[l] * std::sqrt(n + 1.0)) + 2, n);
      EXPECT_GE(static_cast<double>(used), (n == 2 ? 0.75 : 0.55) * static_cast<double>(end))
          << "n = " << n << ", level " << l;
      EXPECT_LE(static_cast<double>(end), (n == 2 ? 0.85 : 0.5) * box)
          << "n = " << n << ", level " << l;
    }
  }
}

TEST(Encoding, SimplexInDimension12UsesTheRuntimePath) {
  const HashGrid grid(config(12, Lattice::Simplex));
  const RowMatrix<float> params = RowMatrix<float>::Ones(grid.param_rows(), 2);
  RowMatrix<float> out(50, grid.output_dims());
  grid.forward(uniform(50, 12, 3), params, out);
  EXPECT_LT((out.array() - 1.0f).abs().maxCoeff(), 2e-6f);
}

TEST(Encoding, ParameterGradientIsTheAdjointOfForward) {
  for (Lattice lattice : {Lattice::Simplex, Lattice::Cube}) {
    for (int n : {2, 3, 5}) {
      const HashGrid grid(config(n, lattice));
      const RowMatrix<float> x = uniform(300, n, 10 + n);
      const RowMatrix<float> g = uniform(300, grid.output_dims(), 20 + n, -1, 1);
      const RowMatrix<float> delta = uniform(grid.param_rows(), 2, 30 + n, -1, 1);
      RowMatrix<float> out(300, grid.output_dims()), grad(grid.param_rows(), 2);
      grid.forward(x, delta, out);  // forward is linear in the table
      grid.backward_params(x, g, grad);
      const double lhs = (out.cast<double>().array() * g.cast<double>().array()).sum();
      const double rhs = (delta.cast<double>().array() * grad.cast<double>().array()).sum();
      EXPECT_NEAR(lhs, rhs, 1e-4 * std::abs(rhs) + 1e-3) << "n = " << n;
    }
  }
}

TEST(Encoding, InputGradientMatchesFiniteDifferences) {
  for (Lattice lattice : {Lattice::Simplex, Lattice::Cube}) {
    const int n = 3;
    const HashGrid grid(config(n, lattice, 3));
    const RowMatrix<float> params = uniform(grid.param_rows(), 2, 5, -1, 1);
    const RowMatrix<float> x = uniform(100, n, 6, 0.05f, 0.95f);
    const RowMatrix<float> g = uniform(100, grid.output_dims(), 7, -1, 1);
    RowMatrix<float> grad_x(100, n), up(100, grid.output_dims()), down(100, grid.output_dims());
    grid.backward_input(x, params, g, grad_x);
    int agree = 0;
    const float h = 2e-4f;
    for (int d = 0; d < n; ++d) {
      RowMatrix<float> xp = x, xm = x;
      xp.col(d).array() += h;
      xm.col(d).array() -= h;
      grid.forward(xp, params, up);
      grid.forward(xm, params, down);
      for (Index i = 0; i < 100; ++i) {
        const double numeric = ((up.row(i) - down.row(i)).cast<double>().dot(
                                   g.row(i).cast<double>())) / (2.0 * h);
        agree += std::abs(numeric - grad_x(i, d)) < 2e-2 * (1 + std::abs(numeric));
      }
    }
    EXPECT_GE(agree, 0.95 * 100 * n);
  }
}

TEST(Encoding, BackwardDoesNotDependOnTheThreadCount) {
  const HashGrid grid(config(4, Lattice::Simplex, 6));
  const RowMatrix<float> x = uniform(2000, 4, 1);
  const RowMatrix<float> g = uniform(2000, grid.output_dims(), 2, -1, 1);
  RowMatrix<float> one(grid.param_rows(), 2), two(grid.param_rows(), 2);
  const int before = get_num_threads();
  set_num_threads(1);
  grid.backward_params(x, g, one);
  set_num_threads(2);
  grid.backward_params(x, g, two);
  set_num_threads(before);
  EXPECT_TRUE(one == two);
}

TEST(Encoding, BackwardRefusesNonFiniteAndOverflowingGradients) {
  for (const Lattice lattice : {Lattice::Simplex, Lattice::Cube}) {
    const HashGrid grid(config(2, lattice, 3));
    // 5000 points (more than one chunk of the level-major copy) on the same vertices.
    const RowMatrix<float> x = RowMatrix<float>::Constant(5000, 2, 0.5f);
    RowMatrix<float> out = RowMatrix<float>::Constant(grid.param_rows(), 2, 7.0f);
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()}) {
      RowMatrix<float> g = RowMatrix<float>::Ones(5000, grid.output_dims());
      g(4321, grid.output_dims() - 1) = bad;
      EXPECT_THROW(grid.backward_params(x, g, out), std::invalid_argument);
      EXPECT_TRUE((out.array() == 7.0f).all());  // refused before anything is written
    }
    // Finite values whose sums over the points leave float32's range.
    const RowMatrix<float> huge = RowMatrix<float>::Constant(5000, grid.output_dims(), 3e35f);
    EXPECT_THROW(grid.backward_params(x, huge, out), std::invalid_argument);
    // The same values on few enough points stay finite.
    grid.backward_params(x.topRows(10), huge.topRows(10), out);
    EXPECT_TRUE(out.allFinite());
    EXPECT_GT(out.maxCoeff(), 1e35f);
  }
}

TEST(Encoding, InvalidConfigurationsAndShapesThrow) {
  HashGridConfig c = config(2, Lattice::Simplex);
  c.n_dims = 0;
  EXPECT_THROW(HashGrid{c}, std::invalid_argument);
  c = config(13, Lattice::Cube);
  EXPECT_THROW(HashGrid{c}, std::invalid_argument);
  c = config(2, Lattice::Simplex);
  c.log2_table_size = 31;
  EXPECT_THROW(HashGrid{c}, std::invalid_argument);
  c = config(2, Lattice::Simplex);
  c.features_per_level = 3;
  EXPECT_THROW(HashGrid{c}, std::invalid_argument);
  const HashGrid grid(config(2, Lattice::Simplex));
  RowMatrix<float> params(grid.param_rows(), 2), out(5, grid.output_dims());
  EXPECT_THROW(grid.forward(RowMatrix<float>::Zero(5, 3), params, out), std::invalid_argument);
  RowMatrix<float> wrong(10, 2);
  EXPECT_THROW(grid.forward(RowMatrix<float>::Zero(5, 2), wrong, out), std::invalid_argument);
}

TEST(NeuralField, FitsASmoothImage) {
  HashGridConfig c = config(2, Lattice::Simplex, 6);
  NeuralField field(c, 1, 16, 1, 0);
  const int height = 16, width = 16;
  RowMatrix<float> pixels(height * width, 1);
  for (int r = 0; r < height; ++r)
    for (int col = 0; col < width; ++col)
      pixels(r * width + col, 0) = 0.5f + 0.3f * std::sin(0.4f * r) * std::cos(0.3f * col);
  FieldTrainingOptions options;
  options.steps = 200;
  options.batch_size = 256;
  const FieldTrainingLog log = field.fit_image(pixels, height, width, options);
  ASSERT_EQ(log.loss.size(), 200u);
  EXPECT_GT(log.eval_psnr.back(), 30.0);
}

TEST(NeuralField, OnStepSeesEveryStepAndStopsTheTraining) {
  HashGridConfig c = config(2, Lattice::Cube, 4);
  NeuralField field(c, 1, 8, 1, 0);
  const RowMatrix<float> pixels = RowMatrix<float>::Constant(8 * 8, 1, 0.25f);
  FieldTrainingOptions options;
  options.steps = 50;
  options.batch_size = 32;
  std::vector<int> steps;
  std::vector<float> losses;
  options.on_step = [&](int step, float loss) {
    steps.push_back(step);
    losses.push_back(loss);
    return step == 5;
  };
  const FieldTrainingLog log = field.fit_image(pixels, 8, 8, options);
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(losses, log.loss);
  EXPECT_EQ(log.eval_step, std::vector<int>{5});
}

}  // namespace
}  // namespace nearlinear

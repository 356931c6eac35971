// Unit tests of the fully-connected network (nearlinear/mlp.hpp).
#include <gtest/gtest.h>

#include "nearlinear/mlp.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace {

RowMatrix<float> uniform(Index rows, Index cols, std::uint64_t seed) {
  RowMatrix<float> m(rows, cols);
  rng::Stream stream(seed, 3);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(stream.uniform(-1, 1));
  return m;
}

// dL/din of L = <predict(in), g> against finite differences of the same map, at the probes
// where no ReLU switches within the step (its one-sided differences agree).
TEST(Mlp, InputGradientMatchesFiniteDifferences) {
  Mlp net(5, 16, 2, 3, 11);
  const RowMatrix<float> in = uniform(37, 5, 1), g = uniform(37, 3, 2);  // 2 uneven chunks
  RowMatrix<float> out, grad_in;
  net.forward_train(in, out);
  ASSERT_LT((out - net.predict(in)).cwiseAbs().maxCoeff(), 1e-5f);
  net.backward(g, grad_in);
  const float h = 1e-3f;
  auto loss = [&](const RowMatrix<float>& x, Index r) {
    return net.predict(x).row(r).cast<double>().dot(g.row(r).cast<double>());
  };
  int checked = 0;
  for (Index r = 0; r < in.rows(); ++r) {
    for (Index c = 0; c < in.cols(); ++c) {
      RowMatrix<float> plus = in, minus = in;
      plus(r, c) += h;
      minus(r, c) -= h;
      const double centre = loss(in, r);
      const double ahead = (loss(plus, r) - centre) / h, behind = (centre - loss(minus, r)) / h;
      if (std::abs(ahead - behind) > 1e-2 * (1.0 + std::abs(ahead))) continue;  // a kink
      ++checked;
      const double numeric = 0.5 * (ahead + behind);
      EXPECT_NEAR(grad_in(r, c), numeric, 5e-3 * (1.0 + std::abs(numeric))) << r << ", " << c;
    }
  }
  EXPECT_GT(checked, 150);  // of 185
}

// backward keeps work space between calls: a call after one on another batch size gives the
// same as on a fresh network, and so does the Adam step that follows.
TEST(Mlp, RepeatedBackwardOnOtherBatchSizesMatchesAFreshNetwork) {
  Mlp used(4, 8, 2, 2, 5), fresh(4, 8, 2, 2, 5);
  RowMatrix<float> out, grad_in, fresh_out, fresh_grad;
  const RowMatrix<float> big = uniform(3000, 4, 1), big_g = uniform(3000, 2, 2);
  used.forward_train(big, out);
  used.backward(big_g, grad_in);
  const RowMatrix<float> in = uniform(21, 4, 3), g = uniform(21, 2, 4);
  used.forward_train(in, out);
  used.backward(g, grad_in);
  fresh.forward_train(in, fresh_out);
  fresh.backward(g, fresh_grad);
  EXPECT_EQ(grad_in, fresh_grad);
  AdamOptions adam;
  used.adam_step(adam, 1);
  fresh.adam_step(adam, 1);
  EXPECT_EQ(used.predict(in), fresh.predict(in));
}

}  // namespace
}  // namespace nearlinear

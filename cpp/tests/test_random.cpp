#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "nearlinear/random.hpp"

using namespace nearlinear;

TEST(Random, HashIsAPureFunction) {
  EXPECT_EQ(rng::hash(1, 2, 3), rng::hash(1, 2, 3));
  EXPECT_NE(rng::hash(1, 2, 3), rng::hash(1, 2, 4));
  EXPECT_NE(rng::hash(1, 2, 3), rng::hash(2, 2, 3));
}

TEST(Random, UniformAndNormalMoments) {
  rng::Stream s(42, 7);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    const double z = s.normal();
    sn += z;
    sn2 += z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.005);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.02);
}

TEST(Random, BelowIsInRangeAndRoughlyUniform) {
  rng::Stream s(3, 0);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; ++i) {
    const auto k = s.below(10);
    ASSERT_LT(k, 10u);
    counts[k]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

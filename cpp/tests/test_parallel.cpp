#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "nearlinear/parallel.hpp"

using namespace nearlinear;

TEST(Parallel, ThreadCountRoundTrips) {
  const int before = get_num_threads();
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), std::invalid_argument);
  EXPECT_THROW(set_num_threads(kMaxThreads + 1), std::invalid_argument);
  EXPECT_EQ(get_num_threads(), before);
}

TEST(Parallel, EveryIterationRunsOnce) {
  for (auto schedule : {Schedule::Static, Schedule::Dynamic}) {
    std::vector<int> hits(1000, 0);
    parallel_for(0, 1000, [&](std::int64_t i) { hits[i] += 1; }, schedule);
    for (int h : hits) EXPECT_EQ(h, 1);
  }
}

TEST(Parallel, ExceptionIsRethrownOnCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(0, 100,
                            [](std::int64_t i) {
                              if (i == 57) throw std::invalid_argument("bad row 57");
                            }),
               std::invalid_argument);
}

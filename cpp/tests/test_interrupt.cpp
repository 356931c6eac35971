// Core tests of cooperative interruption (interrupt.hpp).
#include <gtest/gtest.h>

#include <atomic>

#include "nearlinear/interrupt.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/sinkhorn_log.hpp"

using namespace nearlinear;

namespace {

std::atomic<int> checks{0};
bool stop_now() {
  ++checks;
  return true;
}
bool never_stop() {
  ++checks;
  return false;
}

/// Installs a check for one test and removes it afterwards.
struct Installed {
  explicit Installed(InterruptCheck check) {
    checks = 0;
    set_interrupt_check(check);
  }
  ~Installed() { set_interrupt_check(nullptr); }
};

/// Log-domain Sinkhorn on 40 points of a line, run for max_iter iterations (tol = 0).
SinkhornResult<double> run(int max_iter, double reg) {
  const int n = 40;
  RowMatrix<double> M(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) M(i, j) = (i - j) * (i - j) / double(n * n);
  const Eigen::VectorXd a = Eigen::VectorXd::Constant(n, 1.0 / n), none;
  SinkhornOptions o;
  o.max_iter = max_iter;
  o.tol = 0.0;
  return sinkhorn_log<double>(M, a, a, reg, none, none, o);
}

}  // namespace

TEST(Interrupt, NothingInstalledNeverStops) {
  set_interrupt_check(nullptr);
  EXPECT_NO_THROW(check_interrupt());
}

TEST(Interrupt, AnIterativeSolverStopsWhenAsked) {
  // A run that would take 10^9 iterations ends at its first check.
  Installed installed(&stop_now);
  EXPECT_THROW(run(1000000000, 1e-3), Interrupted);
  EXPECT_EQ(checks.load(), 1);
}

TEST(Interrupt, ChecksAreRateLimitedAndKeepResults) {
  const auto plain = run(300, 1e-2);
  Installed installed(&never_stop);
  const auto checked = run(300, 1e-2);
  EXPECT_EQ(checked.n_iter, 300);
  // Far fewer checks than iterations: at most one per 100 ms, plus the first.
  EXPECT_GE(checks.load(), 1);
  EXPECT_LT(checks.load(), 300);
  EXPECT_EQ((checked.plan - plain.plan).cwiseAbs().maxCoeff(), 0.0);
}

TEST(Interrupt, NeverChecksInsideAParallelRegion) {
  Installed installed(&stop_now);
  std::atomic<int> thrown{0};
  set_num_threads(2);
#pragma omp parallel num_threads(2)
  {
    try {
      check_interrupt();
    } catch (const Interrupted&) {
      ++thrown;
    }
  }
  EXPECT_EQ(thrown.load(), 0);
  EXPECT_EQ(checks.load(), 0);
}

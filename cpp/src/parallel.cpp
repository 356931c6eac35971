#include "nearlinear/parallel.hpp"

#include <Eigen/Core>

#include <atomic>

#include "nearlinear/common.hpp"

namespace nearlinear {
namespace {
std::atomic<int> g_num_threads{0};  // 0: not set, use OpenMP's default
}

void set_num_threads(int n) {
  NL_CHECK(n >= 1 && n <= kMaxThreads,
           "num_threads must be an integer in [1, " << kMaxThreads << "]; got " << n);
  g_num_threads.store(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() {
  const int n = g_num_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

}  // namespace nearlinear

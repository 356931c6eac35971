// Whether other processes keep the cores busy: decides whether a loop of a few milliseconds
// is worth a thread team (see completion_internal.hpp).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "completion_internal.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

bool cores_busy() {
#if defined(__linux__) || defined(__APPLE__)
  using Clock = std::chrono::steady_clock;
  static std::atomic<std::int64_t> checked_at{-1};  // milliseconds; -1: never
  static std::atomic<bool> busy{false};
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  const std::int64_t last = checked_at.load(std::memory_order_relaxed);
  if (last < 0 || now - last >= 200) {
    double load = 0.0;
    const unsigned cores = std::thread::hardware_concurrency();
    bool value = false;
    if (cores > 0 && getloadavg(&load, 1) == 1) {
      // This process's own threads count in the load while they run.
      value = load > static_cast<double>(cores) + 0.5;
    }
    busy.store(value, std::memory_order_relaxed);
    checked_at.store(now, std::memory_order_relaxed);
  }
  return busy.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

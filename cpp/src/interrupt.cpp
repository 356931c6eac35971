#include "nearlinear/interrupt.hpp"

#include <omp.h>

#include <atomic>
#include <chrono>

namespace nearlinear {
namespace {

std::atomic<InterruptCheck> installed{nullptr};
// The Python check may wait for the GIL (up to the 5 ms switch interval when another thread
// runs Python code): at most 5 % of a call, and Ctrl-C still answers within a tenth of a second.
constexpr auto kInterval = std::chrono::milliseconds(100);

}  // namespace

void set_interrupt_check(InterruptCheck check) { installed.store(check); }

void check_interrupt() {
  const InterruptCheck check = installed.load(std::memory_order_relaxed);
  if (check == nullptr || omp_in_parallel()) return;
  using Clock = std::chrono::steady_clock;
  thread_local Clock::time_point next_check{};
  const Clock::time_point now = Clock::now();
  if (now < next_check) return;
  next_check = now + kInterval;
  if (check()) throw Interrupted();
}

}  // namespace nearlinear

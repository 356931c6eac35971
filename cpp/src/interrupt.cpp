#include "nearlinear/interrupt.hpp"

#include <omp.h>

#include <atomic>
#include <chrono>

namespace nearlinear {
namespace {

std::atomic<InterruptCheck> installed{nullptr};
constexpr auto kInterval = std::chrono::milliseconds(50);

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

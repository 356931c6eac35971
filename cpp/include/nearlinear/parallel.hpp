// Thread count control and an exception-safe OpenMP parallel loop.
#pragma once

#include <omp.h>

#include <cstdint>
#include <exception>
#include <mutex>

namespace nearlinear {

/// The largest thread count set_num_threads accepts: far above any machine's cores, and low
/// enough that OpenMP can always create the team (an absurd count made it abort the process
/// while allocating the threads' stacks).
inline constexpr int kMaxThreads = 1024;

/// Set the number of threads every parallel loop of the core uses (1 <= n <= kMaxThreads).
/// Also sets Eigen's thread count. Throws std::invalid_argument outside that range.
void set_num_threads(int n);

/// The thread count set by set_num_threads, or OpenMP's default (omp_get_max_threads())
/// when it was never set.
int get_num_threads();

/// How parallel_for hands out iterations. Static: contiguous blocks fixed by the range and
/// the thread count. Dynamic: chunks on demand, for iterations of very uneven cost.
enum class Schedule { Static, Dynamic };

/// Run body(i) for i in [begin, end) on get_num_threads() threads.
/// Results must not depend on which thread runs an iteration (write to disjoint outputs, or
/// reduce per thread and combine in a fixed order). The first exception thrown by any
/// iteration is rethrown on the calling thread after the loop; remaining iterations are
/// skipped. No exception ever escapes an OpenMP region.
template <typename Body>
void parallel_for(std::int64_t begin, std::int64_t end, Body&& body,
                  Schedule schedule = Schedule::Static, int chunk = 0) {
  if (end <= begin) return;
  std::exception_ptr error;
  std::once_flag error_once;
  bool failed = false;
  const int threads = get_num_threads();
  omp_set_schedule(schedule == Schedule::Dynamic ? omp_sched_dynamic : omp_sched_static,
                   chunk > 0 ? chunk : (schedule == Schedule::Dynamic ? 16 : 0));
#pragma omp parallel for num_threads(threads) schedule(runtime) if (threads > 1 && end - begin > 1)
  for (std::int64_t i = begin; i < end; ++i) {
    bool skip;
#pragma omp atomic read
    skip = failed;
    if (skip) continue;
    try {
      body(i);
    } catch (...) {
      std::call_once(error_once, [&] { error = std::current_exception(); });
#pragma omp atomic write
      failed = true;
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace nearlinear

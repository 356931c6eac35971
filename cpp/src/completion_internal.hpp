// Pieces of the completion solver shared between its source files (not a public header).
#pragma once

#include <cstdint>

#include "nearlinear/completion.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

/// Loops whose whole work is below this many flops (a few milliseconds) run on the calling
/// thread: threads gain little there and lose much when cores are oversubscribed.
constexpr double kParallelWork = 2.0e7;

/// body(i) for i in [begin, end): through parallel_for when `work` (flops of the whole loop)
/// reaches kParallelWork, else serially. Every body writes only its own outputs, so the result
/// is the same either way.
template <typename Body>
void for_range(std::int64_t begin, std::int64_t end, double work, Body&& body,
               Schedule schedule = Schedule::Static, int chunk = 0) {
  if (work < kParallelWork) {
    for (std::int64_t i = begin; i < end; ++i) body(i);
    return;
  }
  parallel_for(begin, end, body, schedule, chunk);
}

/// Top-k spectral start of Jain et al. (2013) for the observed matrix minus `shift`, rescaled
/// by m n / |Omega|: U (#m by #k) and V (#n by #k) with U V^T ~ the rank-k SVD, V's rows
/// clipped to the incoherence bound. O(|Omega| k + (m + n) k^2).
void spectral_init(const Observations& obs, double shift, Index k, std::uint64_t seed,
                   RowMatrix<double>& U, RowMatrix<double>& V);

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

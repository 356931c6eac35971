// Pieces of the completion solver shared between its source files (not a public header).
#pragma once

#include <Eigen/Cholesky>

#include <cstdint>

#include "nearlinear/completion.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

/// Loops whose whole work is below this many flops (about a millisecond) run on the calling
/// thread: below it a thread team's start and end cost more than the split saves.
constexpr double kParallelWork = 4.0e6;

/// body(i) for i in [begin, end): through parallel_for when `work` (flops of the whole loop)
/// reaches kParallelWork, else serially. Every body
/// writes only its own outputs, so the result is the same either way.
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

/// G = A^T A + diag(lambda) (#d by #d, full symmetric) for A #n_i by #d. O(n_i d^2).
void gram(const Eigen::Map<RowMatrix<double>>& A, const Vector<double>& lambda,
          RowMatrix<double>& G);

/// Cholesky factorisation of a symmetric positive semi-definite G into llt, adding a jitter
/// of 1e-12 trace(G)/d to G's diagonal when G is numerically singular. O(d^3).
void factor(RowMatrix<double>& G, Eigen::LLT<RowMatrix<double>>& llt);

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

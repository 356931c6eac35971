// Pieces of the completion solver shared between its source files (not a public header).
#pragma once

#include <cstdint>

#include "nearlinear/completion.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

/// Top-k spectral start of Jain et al. (2013) for the observed matrix minus `shift`, rescaled
/// by m n / |Omega|: U (#m by #k) and V (#n by #k) with U V^T ~ the rank-k SVD, V's rows
/// clipped to the incoherence bound. O(|Omega| k + (m + n) k^2).
void spectral_init(const Observations& obs, double shift, Index k, std::uint64_t seed,
                   RowMatrix<double>& U, RowMatrix<double>& V);

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

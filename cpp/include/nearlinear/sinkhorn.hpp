// Classic Sinkhorn scaling (Cuturi 2013) for entropic optimal transport.
#pragma once

#include "nearlinear/ot_result.hpp"

namespace nearlinear {

/// Entropic OT by Sinkhorn's matrix scaling on K = exp(-M / reg):
/// P = diag(u) K diag(v), alternately v = b / K^T u and u = a / K v (one pass over K per
/// iteration: both products are fused row by row).
///
/// @param[in] M    #n by #m cost matrix, finite, >= 0
/// @param[in] a    #n positive source weights
/// @param[in] b    #m positive target weights, sum(b) == sum(a)
/// @param[in] reg  entropic regularisation, > 0
/// @param[in] log_u0, log_v0  initial log-scalings (#n, #m) or empty for zeros
/// @return plan, potentials f = reg log u, g = reg log v, iteration counts, error.
///   When exp(-M/reg) has an all-zero row or column, or a scaling leaves the float range,
///   the run stops with `underflow = true` and no plan (use sinkhorn_log).
/// @throws std::invalid_argument on bad shapes or values.
/// Complexity O(n m) per iteration; memory one #n by #m kernel in T (sums in double).
template <typename T>
SinkhornResult<T> sinkhorn_scaling(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                                   const Eigen::VectorXd& b, double reg,
                                   const Eigen::VectorXd& log_u0, const Eigen::VectorXd& log_v0,
                                   const SinkhornOptions& options);

}  // namespace nearlinear

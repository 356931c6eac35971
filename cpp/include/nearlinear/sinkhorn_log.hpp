// Log-stabilised Sinkhorn with absorption (Schmitzer 2019; Chizat, Peyre, Schmitzer,
// Vialard 2018) for entropic optimal transport at small regularisation.
#pragma once

#include "nearlinear/ot_result.hpp"

namespace nearlinear {

/// Entropic OT in the log domain, as fast as the classic scaling: keep potentials f, g and
/// the stabilised kernel K~_ij = exp((f_i + g_j - M_ij) / reg); iterate plain scalings
/// u, v on K~ (fused matrix-vector products) and absorb them into f, g (recomputing K~
/// by an exact log-sum-exp update) only when they leave exp(+-absorb_log_threshold) or a
/// column of K~ u underflows. The scalings are over-relaxed (options.overrelax, see
/// ot_result.hpp) once the convergence rate is known. Optional epsilon scaling
/// (options.eps_scaling_factor).
///
/// @param[in] M    #n by #m cost matrix, finite, >= 0
/// @param[in] a, b positive weights (#n, #m) with equal sums
/// @param[in] reg  > 0; stable for reg far below the cost scale (1e-4 max(M) and less)
/// @param[in] f0, g0  initial potentials (#n, #m) or empty for zeros
/// @return plan P_ij = exp((f_i + g_j - M_ij)/reg), potentials, counts, error.
/// @throws std::invalid_argument on bad shapes or values.
/// Complexity O(n m) per iteration (one pass over K~), plus one exp per entry per absorption.
/// Memory: one #n by #m kernel in T; sums and potentials in double.
template <typename T>
SinkhornResult<T> sinkhorn_log(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                               const Eigen::VectorXd& b, double reg, const Eigen::VectorXd& f0,
                               const Eigen::VectorXd& g0, const SinkhornOptions& options);

}  // namespace nearlinear

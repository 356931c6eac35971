// Sinkhorn-Newton-Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao, Ying,
// ICLR 2024) for entropic optimal transport.
#pragma once

#include "nearlinear/ot_result.hpp"

namespace nearlinear {

/// Entropic OT by a log-stabilised (over-relaxed) Sinkhorn warm-up of at most
/// sns_warmup_iter iterations, or until the marginal error <= sns_warmup_tol * mass,
/// followed by Newton steps on the semi-dual
/// F(g) = <a, f(g)> + <b, g>, f(g)_i = reg log a_i - reg LSE_j((g_j - M_ij)/reg).
/// Its negated Hessian (diag(c) - P^T diag(1/a) P) / reg (c = P^T 1) is sparsified by
/// keeping the entries P_ij >= sns_keep_ratio * max_j P_ij and solved with Jacobi-
/// preconditioned conjugate gradients; the null direction 1 is projected out. Backtracking
/// (Armijo) line search on F; when a Newton step fails, Sinkhorn iterations are taken
/// instead (sns_fallback_iter, doubling after each consecutive failure), so the method
/// always converges.
///
/// @param[in] M    #n by #m cost matrix, finite, >= 0
/// @param[in] a, b positive weights (#n, #m) with equal sums
/// @param[in] reg  > 0
/// @param[in] f0, g0  initial potentials or empty for zeros
/// @return plan, potentials, n_newton, n_sinkhorn, error.
/// @throws std::invalid_argument on bad shapes or values.
/// Complexity per Newton step: O(n m) exponentials plus CG on nnz kept entries.
/// Memory: one #n by #m double buffer (the plan, or the stabilised kernel in Sinkhorn steps).
template <typename T>
SinkhornResult<T> sinkhorn_newton_sparse(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                                         const Eigen::VectorXd& b, double reg,
                                         const Eigen::VectorXd& f0, const Eigen::VectorXd& g0,
                                         const SinkhornOptions& options);

}  // namespace nearlinear

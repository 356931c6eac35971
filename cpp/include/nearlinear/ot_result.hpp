// Options and result shared by the entropic optimal transport solvers (sinkhorn.hpp,
// sinkhorn_log.hpp, sns.hpp).
#pragma once

#include <vector>

#include "nearlinear/common.hpp"

namespace nearlinear {

/// Stopping rule and limits of a Sinkhorn-type solver.
struct SinkhornOptions {
  int max_iter = 1000;   ///< iterations (Sinkhorn iterations plus Newton steps for SNS), >= 1
  double tol = 1e-9;     ///< stop when ||P 1 - a||_1 + ||P^T 1 - b||_1 <= tol
  /// Log-stabilised solvers: absorb the scalings u, v into the potentials when
  /// max(|log u|, |log v|) exceeds this (Schmitzer 2019, Alg. 2).
  double absorb_log_threshold = 30.0;
  /// sinkhorn_log: epsilon scaling. When > 1, solve a sequence of problems with
  /// reg_k = max(M) / eps_factor^k > reg * eps_factor loosely (at most 20 iterations each)
  /// before the requested reg. Their iterations count in max_iter; the stages stop early
  /// when only one iteration is left, which goes to the requested reg.
  double eps_scaling_factor = 0.0;
  /// sinkhorn_log and SNS: over-relaxed scaling u <- u^(1-w) (a / K v)^w with w chosen from
  /// the observed convergence rate and a safeguard back to w = 1 (same fixed point).
  bool overrelax = true;
  // SNS (sns.hpp) only.
  int sns_warmup_iter = 50;          ///< at most this many Sinkhorn iterations before Newton
  double sns_warmup_tol = 1e-2;      ///< ...or until the marginal error <= this * mass
  double sns_keep_ratio = 1e-7;      ///< keep P_ij >= sns_keep_ratio * max_j P_ij in the Hessian
  int sns_cg_max_iter = 500;         ///< conjugate-gradient iterations per Newton step
  int sns_fallback_iter = 10;        ///< Sinkhorn iterations after a failed Newton step
};

/// Result of a Sinkhorn-type solver for an #n by #m problem.
/// The plan is P_ij = exp((f_i + g_j - M_ij) / reg).
template <typename T>
struct SinkhornResult {
  RowMatrix<T> plan;                 ///< #n by #m transport plan
  Eigen::VectorXd f;                 ///< #n dual potential
  Eigen::VectorXd g;                 ///< #m dual potential
  int n_iter = 0;                    ///< total iterations (Sinkhorn + Newton)
  int n_sinkhorn = 0;                ///< Sinkhorn iterations
  int n_newton = 0;                  ///< Newton steps (SNS)
  int n_absorb = 0;                  ///< absorptions of u, v into f, g (log-stabilised)
  double err = 0;                    ///< final L1 marginal violation
  bool converged = false;            ///< err <= tol
  bool underflow = false;            ///< classic scaling: the kernel or a scaling left the float range
  std::vector<double> err_history;   ///< marginal violation after each iteration
};

}  // namespace nearlinear

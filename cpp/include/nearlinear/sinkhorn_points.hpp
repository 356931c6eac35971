// Log-domain Sinkhorn between two point clouds with the cost computed on the fly in tiles.
#pragma once

#include <vector>

#include "nearlinear/common.hpp"

namespace nearlinear {

struct SinkhornPointsOptions {
  double p = 2.0;                 ///< cost |x_i - y_j|^p (Euclidean norm), p > 0
  int max_iter = 1000;            ///< iterations at the final reg, >= 1
  double tol = 1e-9;              ///< stop when ||P^T 1 - b||_1 <= tol (rows are exact)
  double eps_scaling = 0.5;       ///< reg_k = diameter^p * eps_scaling^k down to reg; 0: off
  bool plan = false;              ///< also return the #n by #m plan
};

template <typename T>
struct SinkhornPointsResult {
  Eigen::VectorXd f;              ///< #n potential; P_ij = exp((f_i + g_j - C_ij)/reg)
  Eigen::VectorXd g;              ///< #m potential
  double cost = 0;                ///< <P, C>
  int n_iter = 0;                 ///< iterations at the final reg
  int n_eps_steps = 0;            ///< epsilon-scaling stages before it
  double err = 0;                 ///< final L1 marginal violation
  bool converged = false;
  std::vector<double> err_history;
  RowMatrix<T> plan;              ///< only when options.plan
};

/// Entropic OT between x (#n by #d) and y (#m by #d) with cost C_ij = |x_i - y_j|^p, never
/// forming C: each half iteration is an exact log-sum-exp over tiles of the cost computed on
/// the fly (online maximum per tile), parallel over rows, vectorised in T (float32 exp for
/// float input). O(n + m) memory unless the plan is requested.
///
/// @param[in] x, y  finite point clouds with the same #d
/// @param[in] a, b  positive weights (#n, #m), equal sums
/// @param[in] reg   > 0, in the units of C
/// @throws std::invalid_argument on bad shapes or values, and when the costs would overflow
///   T: the bounding-box diameter D of x and y must have D^2 and D^p below max(T) / 2
///   (rescale the points).
/// Complexity O(n m d) per iteration.
template <typename T>
SinkhornPointsResult<T> sinkhorn_points(const ConstRowMatrixRef<T>& x, const ConstRowMatrixRef<T>& y,
                                        const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                        double reg, const SinkhornPointsOptions& options);

}  // namespace nearlinear

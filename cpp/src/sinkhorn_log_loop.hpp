// Private: the log-stabilised Sinkhorn loop shared by sinkhorn_log.cpp and sns.cpp.
#pragma once

#include "ot_detail.hpp"

namespace nearlinear::ot_detail {

/// Potentials f, g and the stabilised kernel K = exp((f_i + g_j - M_ij)/reg) (references to
/// the caller's storage), and the scalings u, v: the plan is diag(u) K diag(v).
template <typename KT>
struct StabilisedState {
  Eigen::VectorXd& f;
  Eigen::VectorXd& g;
  RowMatrix<KT>& K;
  Eigen::VectorXd u{};
  Eigen::VectorXd v{};
  Relaxation relax{};
};

/// Schmitzer (2019), Alg. 2: scaling iterations on the stabilised kernel; when u or v leave
/// exp(+-log_threshold) they are absorbed into f, g and K is recomputed by an exact
/// log-sum-exp row update. When a column of K^T u underflows, one exact log-domain
/// iteration (column then row log-sum-exp) replaces the scaling step, and its plan's error
/// is measured like any other iteration's. `iter` counts the iterations of this call (at
/// most max_iter).
template <typename T, typename KT>
LoopStatus stabilised_sinkhorn(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                               const Eigen::VectorXd& b, double reg, StabilisedState<KT>& s,
                               int max_iter, double tol, double log_threshold, int& iter,
                               double& err, std::vector<double>& history, int& n_absorb) {
  auto refresh = [&] {
    row_lse_update<T, KT>(M, a, s.g, reg, s.f, s.K, nullptr);
    s.u = Eigen::VectorXd::Ones(M.rows());
    s.v = Eigen::VectorXd::Ones(M.cols());
  };
  iter = 0;
  refresh();
  while (true) {
    const LoopStatus status = scaling_loop(s.K, a, b, s.u, s.v, max_iter, tol, log_threshold, kernel_floor<KT>(),
                                           iter, err, history, s.relax);
    if (status == LoopStatus::Converged || status == LoopStatus::MaxIter) return status;
    ++n_absorb;
    if (status == LoopStatus::Absorb) {
      s.f += reg * s.u.array().log().matrix();
      s.g += reg * s.v.array().log().matrix();
      refresh();
      continue;
    }
    // Underflow: u may be invalid; f is exact for the current g, so recompute g, then f.
    col_lse_update<T>(M, b, s.f, reg, s.g);
    refresh();
    ++iter;
    err = kernel_marginal_error(s.K, a, b);
    history.push_back(err);
    if (!std::isfinite(err)) return LoopStatus::MaxIter;
    if (err <= tol) return LoopStatus::Converged;
    if (iter >= max_iter) return LoopStatus::MaxIter;
  }
}

}  // namespace nearlinear::ot_detail

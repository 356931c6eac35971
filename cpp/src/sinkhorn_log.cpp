// Log-stabilised Sinkhorn with absorption (Schmitzer 2019, "Stabilized sparse scaling
// algorithms for entropy regularized transport problems", Alg. 2) and epsilon scaling.
#include "nearlinear/sinkhorn_log.hpp"

#include "nearlinear/memory.hpp"
#include "sinkhorn_log_loop.hpp"

namespace nearlinear {

template <typename T>
SinkhornResult<T> sinkhorn_log(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                               const Eigen::VectorXd& b, double reg, const Eigen::VectorXd& f0,
                               const Eigen::VectorXd& g0, const SinkhornOptions& options) {
  ot_detail::check_problem<T>(M, a, b, reg, options);
  NL_CHECK(options.eps_scaling_factor == 0 || options.eps_scaling_factor > 1,
           "eps_scaling_factor must be 0 (off) or > 1; got " << options.eps_scaling_factor);
  SinkhornResult<T> result;
  Eigen::VectorXd f = ot_detail::initial_potential(f0, M.rows(), "f0");
  Eigen::VectorXd g = ot_detail::initial_potential(g0, M.cols(), "g0");
  RowMatrix<T> K(M.rows(), M.cols());
  advise_huge_pages(K);
  const double mass = a.sum();
  if (options.eps_scaling_factor > 1) {
    // Coarse-to-fine: a few loose iterations per stage; each stage's potentials make the
    // next stage's kernel well scaled. The stages share max_iter with the final reg, which
    // keeps at least one iteration: when the budget is spent the remaining stages are skipped.
    double stage_reg = static_cast<double>(M.maxCoeff());
    while (stage_reg > reg * options.eps_scaling_factor && result.n_iter < options.max_iter - 1) {
      ot_detail::StabilisedState<T> stage{f, g, K};
      stage.relax.enabled = options.overrelax;
      int stage_iter = 0;
      double stage_err = 0;
      std::vector<double> stage_history;
      ot_detail::stabilised_sinkhorn<T, T>(M, a, b, stage_reg, stage, std::min(20, options.max_iter - 1 - result.n_iter),
                                           std::max(options.tol, 1e-2 * mass), options.absorb_log_threshold,
                                           stage_iter, stage_err, stage_history, result.n_absorb);
      result.n_iter += stage_iter;
      f += stage_reg * stage.u.array().log().matrix();
      g += stage_reg * stage.v.array().log().matrix();
      stage_reg /= options.eps_scaling_factor;
    }
  }
  ot_detail::StabilisedState<T> state{f, g, K};
  state.relax.enabled = options.overrelax;
  int iter = 0;
  const auto status = ot_detail::stabilised_sinkhorn<T, T>(
      M, a, b, reg, state, options.max_iter - result.n_iter, options.tol,
      options.absorb_log_threshold, iter, result.err, result.err_history, result.n_absorb);
  result.n_iter += iter;
  result.n_sinkhorn = result.n_iter;
  result.converged = status == ot_detail::LoopStatus::Converged;
  result.plan = ot_detail::scaled_plan<T>(std::move(K), state.u, state.v);
  result.f = f + reg * state.u.array().log().matrix();
  result.g = g + reg * state.v.array().log().matrix();
  return result;
}

template SinkhornResult<float> sinkhorn_log<float>(const ConstRowMatrixRef<float>&, const Eigen::VectorXd&,
                                                   const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                   const Eigen::VectorXd&, const SinkhornOptions&);
template SinkhornResult<double> sinkhorn_log<double>(const ConstRowMatrixRef<double>&, const Eigen::VectorXd&,
                                                     const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                     const Eigen::VectorXd&, const SinkhornOptions&);

}  // namespace nearlinear

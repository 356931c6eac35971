// Classic Sinkhorn scaling (Cuturi 2013, Alg. 1) with underflow detection.
#include "nearlinear/sinkhorn.hpp"

#include "nearlinear/memory.hpp"
#include "ot_detail.hpp"

namespace nearlinear {

template <typename T>
SinkhornResult<T> sinkhorn_scaling(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                                   const Eigen::VectorXd& b, double reg,
                                   const Eigen::VectorXd& log_u0, const Eigen::VectorXd& log_v0,
                                   const SinkhornOptions& options) {
  ot_detail::check_problem<T>(M, a, b, reg, options);
  const Index n = M.rows(), m = M.cols();
  Eigen::VectorXd u = ot_detail::initial_potential(log_u0, n, "log_u0").array().exp().matrix();
  Eigen::VectorXd v = ot_detail::initial_potential(log_v0, m, "log_v0").array().exp().matrix();
  SinkhornResult<T> result;
  RowMatrix<T> K(n, m);
  advise_huge_pages(K);
  // exp(-M/reg) below the smallest normal number is stored as 0: denormals slow every pass.
  const T floor = std::numeric_limits<T>::min();
  parallel_for(0, n, [&](std::int64_t i) {
    const auto k = (M.row(i).array() * T(-1.0 / reg)).exp();
    K.row(i) = (k < floor).select(T(0), k).matrix();
  });
  // A kernel row or column that is all zeros makes the scaling undefined: report it.
  bool empty_line = (K.rowwise().maxCoeff().array() <= T(0)).any() ||
                    (K.colwise().maxCoeff().array() <= T(0)).any();
  if (!empty_line && u.allFinite() && v.allFinite()) {
    ot_detail::Relaxation plain;  // the classic method is never over-relaxed
    // exp(-M/reg) does not scale with the weights: every zero product is an underflow.
    const auto status = ot_detail::scaling_loop(K, a, b, u, v, options.max_iter, options.tol,
                                                std::numeric_limits<double>::infinity(), 0.0,
                                                result.n_iter, result.err, result.err_history, plain);
    result.underflow = status == ot_detail::LoopStatus::Underflow;
    result.converged = status == ot_detail::LoopStatus::Converged;
  } else {
    result.underflow = true;
  }
  result.n_sinkhorn = result.n_iter;
  if (result.underflow) return result;
  result.f = reg * u.array().log().matrix();
  result.g = reg * v.array().log().matrix();
  result.plan = ot_detail::scaled_plan<T>(std::move(K), u, v);
  return result;
}

template SinkhornResult<float> sinkhorn_scaling<float>(const ConstRowMatrixRef<float>&, const Eigen::VectorXd&,
                                                       const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                       const Eigen::VectorXd&, const SinkhornOptions&);
template SinkhornResult<double> sinkhorn_scaling<double>(const ConstRowMatrixRef<double>&, const Eigen::VectorXd&,
                                                         const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                         const Eigen::VectorXd&, const SinkhornOptions&);

}  // namespace nearlinear

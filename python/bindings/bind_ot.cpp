// Bindings of the entropic optimal transport part of the core: sinkhorn.hpp,
// sinkhorn_log.hpp, sns.hpp and sinkhorn_points.hpp.
#include <pybind11/eigen.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "nearlinear/sinkhorn.hpp"
#include "nearlinear/sinkhorn_log.hpp"
#include "nearlinear/sinkhorn_points.hpp"
#include "nearlinear/sns.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {
namespace {

template <typename T>
py::dict sinkhorn_matrix(const Eigen::Ref<const RowMatrix<T>>& M, const Eigen::VectorXd& a,
                         const Eigen::VectorXd& b, double reg, const std::string& method,
                         const Eigen::VectorXd& init_f, const Eigen::VectorXd& init_g,
                         const SinkhornOptions& options) {
  SinkhornResult<T> r;
  {
    py::gil_scoped_release release;
    if (method == "sinkhorn")
      r = sinkhorn_scaling<T>(M, a, b, reg, init_f, init_g, options);
    else if (method == "sinkhorn_log")
      r = sinkhorn_log<T>(M, a, b, reg, init_f, init_g, options);
    else if (method == "sns")
      r = sinkhorn_newton_sparse<T>(M, a, b, reg, init_f, init_g, options);
    else
      NL_CHECK(false, "unknown method " << method);
  }
  py::dict out;
  out["plan"] = py::cast(std::move(r.plan));
  out["f"] = py::cast(std::move(r.f));
  out["g"] = py::cast(std::move(r.g));
  out["n_iter"] = r.n_iter;
  out["n_sinkhorn"] = r.n_sinkhorn;
  out["n_newton"] = r.n_newton;
  out["n_absorb"] = r.n_absorb;
  out["err"] = r.err;
  out["converged"] = r.converged;
  out["underflow"] = r.underflow;
  out["err_history"] = py::cast(r.err_history);
  return out;
}

template <typename T>
py::dict sinkhorn_points_dict(const Eigen::Ref<const RowMatrix<T>>& x, const Eigen::Ref<const RowMatrix<T>>& y,
                              const Eigen::VectorXd& a, const Eigen::VectorXd& b, double reg,
                              const SinkhornPointsOptions& options) {
  SinkhornPointsResult<T> r;
  {
    py::gil_scoped_release release;
    r = sinkhorn_points<T>(x, y, a, b, reg, options);
  }
  py::dict out;
  out["f"] = py::cast(std::move(r.f));
  out["g"] = py::cast(std::move(r.g));
  out["cost"] = r.cost;
  out["n_iter"] = r.n_iter;
  out["n_eps_steps"] = r.n_eps_steps;
  out["err"] = r.err;
  out["converged"] = r.converged;
  out["err_history"] = py::cast(r.err_history);
  if (options.plan) out["plan"] = py::cast(std::move(r.plan));
  return out;
}

SinkhornOptions matrix_options(int max_iter, double tol, double absorb_log_threshold, double eps_scaling_factor,
                               int warmup_iter, double warmup_tol, double keep_ratio, int cg_max_iter,
                               int fallback_iter, bool overrelax) {
  SinkhornOptions o;
  o.overrelax = overrelax;
  o.max_iter = max_iter;
  o.tol = tol;
  o.absorb_log_threshold = absorb_log_threshold;
  o.eps_scaling_factor = eps_scaling_factor;
  o.sns_warmup_iter = warmup_iter;
  o.sns_warmup_tol = warmup_tol;
  o.sns_keep_ratio = keep_ratio;
  o.sns_cg_max_iter = cg_max_iter;
  o.sns_fallback_iter = fallback_iter;
  return o;
}

template <typename T>
void def_dtype(py::module_& m) {
  m.def(
      "sinkhorn",
      [](const Eigen::Ref<const RowMatrix<T>>& M, const Eigen::VectorXd& a, const Eigen::VectorXd& b, double reg,
         const std::string& method, const Eigen::VectorXd& init_f, const Eigen::VectorXd& init_g, int max_iter,
         double tol, double absorb_log_threshold, double eps_scaling_factor, int warmup_iter, double warmup_tol,
         double keep_ratio, int cg_max_iter, int fallback_iter, bool overrelax) {
        return sinkhorn_matrix<T>(M, a, b, reg, method, init_f, init_g,
                                  matrix_options(max_iter, tol, absorb_log_threshold, eps_scaling_factor,
                                                 warmup_iter, warmup_tol, keep_ratio, cg_max_iter, fallback_iter,
                                                 overrelax));
      },
      py::arg("M").noconvert(), py::arg("a"), py::arg("b"), py::arg("reg"), py::arg("method"), py::arg("init_f"),
      py::arg("init_g"), py::arg("max_iter"), py::arg("tol"), py::arg("absorb_log_threshold"),
      py::arg("eps_scaling_factor"), py::arg("warmup_iter"), py::arg("warmup_tol"), py::arg("keep_ratio"),
      py::arg("cg_max_iter"), py::arg("fallback_iter"), py::arg("overrelax"),
      "Entropic OT on a cost matrix (method: sinkhorn, sinkhorn_log or sns); returns a dict.");
  m.def(
      "sinkhorn_points",
      [](const Eigen::Ref<const RowMatrix<T>>& x, const Eigen::Ref<const RowMatrix<T>>& y, const Eigen::VectorXd& a,
         const Eigen::VectorXd& b, double reg, double p, int max_iter, double tol, double eps_scaling, bool plan) {
        SinkhornPointsOptions o;
        o.p = p;
        o.max_iter = max_iter;
        o.tol = tol;
        o.eps_scaling = eps_scaling;
        o.plan = plan;
        return sinkhorn_points_dict<T>(x, y, a, b, reg, o);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("a"), py::arg("b"), py::arg("reg"), py::arg("p"),
      py::arg("max_iter"), py::arg("tol"), py::arg("eps_scaling"), py::arg("plan"),
      "Entropic OT between point clouds, cost |x_i - y_j|^p computed in tiles; returns a dict.");
}

}  // namespace

void bind_ot(py::module_& m) {
  def_dtype<double>(m);
  def_dtype<float>(m);
}

}  // namespace nearlinear::bindings

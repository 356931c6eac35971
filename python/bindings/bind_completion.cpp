// Bindings of the matrix-completion part of the core.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "nearlinear/completion.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {

namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style>;
using ValueArray = py::array_t<double, py::array::c_style>;

completion::Method parse_method(const std::string& method) {
  if (method == "als") return completion::Method::ALS;
  NL_CHECK(method == "robust-am", "method must be 'als' or 'robust-am'; got '" << method << "'");
  return completion::Method::RobustAM;
}

std::unique_ptr<completion::Solver> make_solver(const IndexArray& rows, const IndexArray& cols,
                                                const ValueArray& values, Index m, Index n,
                                                Index rank, const std::string& method,
                                                double reg, double bias_reg, bool biases,
                                                std::uint64_t seed,
                                                double inner_tol, int max_inner) {
  NL_CHECK(rows.ndim() == 1 && cols.ndim() == 1 && values.ndim() == 1 &&
               rows.size() == cols.size() && rows.size() == values.size(),
           "rows, cols and values must be 1-D arrays of one length");
  completion::Options opt;
  opt.rank = rank;
  opt.method = parse_method(method);
  opt.reg = reg;
  opt.bias_reg = bias_reg;
  opt.biases = biases;
  opt.seed = seed;
  opt.inner_tol = inner_tol;
  opt.max_inner = max_inner;
  const std::int64_t* r = rows.data();
  const std::int64_t* c = cols.data();
  const double* v = values.data();
  const Index nnz = rows.size();
  py::gil_scoped_release release;
  return std::make_unique<completion::Solver>(completion::make_observations(m, n, r, c, v, nnz),
                                              opt);
}

}  // namespace

void bind_completion(py::module_& m) {
  py::class_<completion::Solver>(m, "CompletionSolver",
                                 "Alternating-minimisation state of matrix completion.")
      .def(py::init(&make_solver), py::arg("rows"), py::arg("cols"), py::arg("values"),
           py::arg("m"), py::arg("n"), py::arg("rank"), py::arg("method"), py::arg("reg"),
           py::arg("bias_reg"), py::arg("biases"), py::arg("seed"), py::arg("inner_tol"), py::arg("max_inner"))
      .def("initialize", &completion::Solver::initialize, py::call_guard<py::gil_scoped_release>())
      .def("sweep", &completion::Solver::sweep, py::call_guard<py::gil_scoped_release>())
      .def("gibbs_sweep", &completion::Solver::gibbs_sweep, py::arg("index"),
           py::call_guard<py::gil_scoped_release>())
      .def(
          "sample_posterior",
          [](completion::Solver& solver, int warmup, int burn_in, int samples) {
            completion::PosteriorAverage avg;
            {
              py::gil_scoped_release release;
              avg = solver.sample_posterior(warmup, burn_in, samples);
            }
            py::dict history;
            history["train_rmse"] = py::array(py::cast(std::move(avg.train_rmse)));
            history["objective"] = py::array(py::cast(std::move(avg.objective)));
            history["seconds"] = py::array(py::cast(std::move(avg.seconds)));
            return py::make_tuple(std::move(avg.U), std::move(avg.V), std::move(avg.row_bias),
                                  std::move(avg.col_bias), history);
          },
          py::arg("warmup"), py::arg("burn_in"), py::arg("samples"),
          "Posterior averaging in one call: (U, V, row_bias, col_bias, per-sweep history).")
      .def_property_readonly("row_means", &completion::Solver::row_means)
      .def_property_readonly("previous_columns", &completion::Solver::previous_columns)
      .def_property_readonly("column_means", &completion::Solver::column_means)
      .def_property_readonly("noise_precision", &completion::Solver::noise_precision)
      .def_property_readonly("row_prior_mean", &completion::Solver::row_prior_mean)
      .def_property_readonly("row_prior_precision", &completion::Solver::row_prior_precision)
      .def_property_readonly("column_prior_mean", &completion::Solver::column_prior_mean)
      .def_property_readonly("column_prior_precision",
                             &completion::Solver::column_prior_precision)
      .def("train_rmse", &completion::Solver::train_rmse,
           py::call_guard<py::gil_scoped_release>())
      .def("objective", &completion::Solver::objective,
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("U", &completion::Solver::U)
      .def_property_readonly("V", &completion::Solver::V)
      .def_property_readonly("row_bias", &completion::Solver::row_bias)
      .def_property_readonly("col_bias", &completion::Solver::col_bias)
      .def_property_readonly("mean", &completion::Solver::mean)
      .def_property_readonly("last_inner_iterations",
                             &completion::Solver::last_inner_iterations);

  m.def(
      "completion_predict",
      [](const Eigen::Ref<const RowMatrix<double>>& U, const Eigen::Ref<const RowMatrix<double>>& V,
         const Eigen::Ref<const Vector<double>>& row_bias,
         const Eigen::Ref<const Vector<double>>& col_bias, double mean, const IndexArray& rows,
         const IndexArray& cols) {
        NL_CHECK(rows.ndim() == 1 && cols.ndim() == 1 && rows.size() == cols.size(),
                 "rows and cols must be 1-D arrays of one length");
        const std::int64_t* r = rows.data();
        const std::int64_t* c = cols.data();
        const Index q = rows.size();
        py::gil_scoped_release release;
        return completion::predict(U, V, row_bias, col_bias, mean, r, c, q);
      },
      py::arg("U"), py::arg("V"), py::arg("row_bias"), py::arg("col_bias"), py::arg("mean"),
      py::arg("rows"), py::arg("cols"), "mean + row_bias[r] + col_bias[c] + U[r] . V[c].");

  m.def(
      "completion_pcg_row_solve",
      [](const Eigen::Ref<const RowMatrix<double>>& A, const Eigen::Ref<const Vector<double>>& y,
         const Eigen::Ref<const Vector<double>>& lam, const RowMatrix<double>& precond,
         double tol, int max_iter, Vector<double> x) {
        NL_CHECK(y.size() == A.rows() && x.size() == A.cols() && lam.size() == A.cols(),
                 "y must have length A.shape[0], lam and x0 length A.shape[1]");
        NL_CHECK(precond.size() == 0 || (precond.rows() == A.cols() && precond.cols() == A.cols()),
                 "precond must be empty or d by d");
        int iterations;
        {
          py::gil_scoped_release release;
          iterations = completion::pcg_row_solve(A, y.data(), lam.data(), precond, tol, max_iter, x.data());
        }
        return py::make_tuple(x, iterations);
      },
      py::arg("A"), py::arg("y"), py::arg("lam"), py::arg("precond"), py::arg("tol"),
      py::arg("max_iter"), py::arg("x0"),
      "RobustAM's row solve: PCG on (A^T A + diag(lam)) x = A^T y from x0; (x, iterations).");
}

}  // namespace nearlinear::bindings

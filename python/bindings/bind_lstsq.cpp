// Bindings of the least-squares part of the core: lstsq_dense and lstsq_sparse.
// Layout and dtype are settled in Python (nearlinear/lstsq.py); the overloads below take the
// arrays without copying (noconvert) and release the GIL for the solve.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>

#include "bindings.hpp"
#include "nearlinear/lstsq.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {
namespace {

LstsqMethod parse_method(const std::string& s) {
  if (s == "precondition") return LstsqMethod::Precondition;
  if (s == "sketch") return LstsqMethod::Sketch;
  if (s == "direct") return LstsqMethod::Direct;
  if (s == "diagonal") return LstsqMethod::Diagonal;
  throw std::invalid_argument("method must be 'precondition', 'sketch', 'direct' or 'diagonal'; got '" +
                              s + "'");
}

SketchKind parse_sketch(const std::string& s) {
  if (s == "sparse_sign") return SketchKind::SparseSign;
  if (s == "srht") return SketchKind::SRHT;
  if (s == "gaussian") return SketchKind::Gaussian;
  throw std::invalid_argument("sketch must be 'sparse_sign', 'srht' or 'gaussian'; got '" + s + "'");
}

LstsqOptions make_options(const std::string& method, const std::string& sketch, Index sketch_size,
                          int nnz_per_column, std::uint64_t seed, double tol, double reg,
                          double rcond, Index max_iter) {
  LstsqOptions o;
  o.method = parse_method(method);
  o.sketch = parse_sketch(sketch);
  o.sketch_size = sketch_size;
  o.nnz_per_column = nnz_per_column;
  o.seed = seed;
  o.tol = tol;
  o.reg = reg;
  o.rcond = rcond;
  o.max_iter = max_iter;
  return o;
}

py::dict to_dict(LstsqResult&& r) {
  py::dict out;
  out["x"] = py::cast(std::move(r.x));
  out["residual_norm"] = py::cast(std::move(r.residual_norm));
  out["n_iter"] = r.n_iter;
  out["n_passes"] = r.n_passes;
  out["converged"] = r.converged;
  out["rank"] = r.rank;
  out["sketch_size"] = r.sketch_size;
  out["cond_estimate"] = r.cond_estimate;
  return out;
}

template <typename ARef>
void def_dense(py::module_& m) {
  m.def(
      "lstsq_dense",
      [](const ARef& A, const ConstRowMatrixRef<double>& B, const std::string& method,
         const std::string& sketch, Index sketch_size, int nnz_per_column, std::uint64_t seed,
         double tol, double reg, double rcond, Index max_iter) {
        const LstsqOptions o = make_options(method, sketch, sketch_size, nnz_per_column, seed,
                                            tol, reg, rcond, max_iter);
        LstsqResult r;
        {
          py::gil_scoped_release release;
          r = lstsq_dense(A, B, o);
        }
        return to_dict(std::move(r));
      },
      py::arg("A").noconvert(), py::arg("B").noconvert(), py::arg("method"), py::arg("sketch"),
      py::arg("sketch_size"), py::arg("nnz_per_column"), py::arg("seed"), py::arg("tol"),
      py::arg("reg"), py::arg("rcond"), py::arg("max_iter"));
}

/// View: SparseView<T> (int64 indices) or SparseView32<T> (int32 indices, read as SciPy
/// stores them).
template <typename T, typename View>
void def_sparse(py::module_& m) {
  using I = std::remove_const_t<std::remove_pointer_t<decltype(View::indices)>>;
  m.def(
      "lstsq_sparse",
      [](Index rows, Index cols, bool row_major,
         const py::array_t<I, py::array::c_style>& indptr,
         const py::array_t<I, py::array::c_style>& indices,
         const py::array_t<T, py::array::c_style>& data, const ConstRowMatrixRef<double>& B,
         const std::string& method, const std::string& sketch, Index sketch_size,
         int nnz_per_column, std::uint64_t seed, double tol, double reg, double rcond,
         Index max_iter) {
        NL_CHECK(indptr.size() == (row_major ? rows : cols) + 1, "sparse A: bad indptr length");
        NL_CHECK(indices.size() == data.size(), "sparse A: indices and data differ in length");
        const View view{rows, cols, row_major, indptr.data(), indices.data(), data.data()};
        NL_CHECK(view.nnz() <= static_cast<Index>(data.size()), "sparse A: indptr exceeds data");
        const LstsqOptions o = make_options(method, sketch, sketch_size, nnz_per_column, seed,
                                            tol, reg, rcond, max_iter);
        LstsqResult r;
        {
          py::gil_scoped_release release;
          r = lstsq_sparse(view, B, o);
        }
        return to_dict(std::move(r));
      },
      py::arg("rows"), py::arg("cols"), py::arg("row_major"), py::arg("indptr").noconvert(),
      py::arg("indices").noconvert(), py::arg("data").noconvert(), py::arg("B").noconvert(),
      py::arg("method"), py::arg("sketch"), py::arg("sketch_size"), py::arg("nnz_per_column"),
      py::arg("seed"), py::arg("tol"), py::arg("reg"), py::arg("rcond"), py::arg("max_iter"));
}

}  // namespace

void bind_lstsq(py::module_& m) {
  def_dense<ConstRowMatrixRef<double>>(m);
  def_dense<ConstColMatrixRef<double>>(m);
  def_dense<ConstRowMatrixRef<float>>(m);
  def_dense<ConstColMatrixRef<float>>(m);
  def_sparse<double, SparseView<double>>(m);
  def_sparse<float, SparseView<float>>(m);
  def_sparse<double, SparseView32<double>>(m);
  def_sparse<float, SparseView32<float>>(m);
  m.def("lstsq_default_tol", &lstsq_default_tol);
  m.def("lstsq_default_sketch_size", [](const std::string& method, Index n, Index d, double nnz,
                                                double eps, double tol) {
    return lstsq_default_sketch_size(parse_method(method), n, d, nnz, eps, tol);
  }, py::arg("method"), py::arg("n"), py::arg("d"), py::arg("nnz"), py::arg("eps"),
     py::arg("tol") = 0.0);
}

}  // namespace nearlinear::bindings

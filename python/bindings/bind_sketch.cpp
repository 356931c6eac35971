// Bindings of the sketch operators (nearlinear/sketch.hpp). Dense arrays arrive as Eigen::Ref
// of either layout without a copy; the Python layer has already coerced and checked them.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>

#include <string>

#include "bindings.hpp"
#include "nearlinear/sketch.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {

namespace {

SketchSpec make_spec(const std::string& kind, Index m, Index n, std::uint64_t seed,
                     int nnz_per_column) {
  SketchSpec spec;
  if (kind == "sparse_sign") {
    spec.kind = SketchKind::SparseSign;
  } else if (kind == "srht") {
    spec.kind = SketchKind::SRHT;
  } else if (kind == "gaussian") {
    spec.kind = SketchKind::Gaussian;
  } else {
    throw py::value_error("kind must be 'sparse_sign', 'srht' or 'gaussian'; got '" + kind + "'");
  }
  spec.m = m;
  spec.n = n;
  spec.seed = seed;
  spec.nnz_per_column = nnz_per_column;
  return spec;
}

template <typename T, typename Matrix>
void def_dense(py::module_& m) {
  m.def(
      "sketch_dense",
      [](const std::string& kind, Index rows, std::uint64_t seed, int nnz_per_column,
         const Eigen::Ref<const Matrix>& A) {
        const SketchSpec spec = make_spec(kind, rows, A.rows(), seed, nnz_per_column);
        py::gil_scoped_release release;
        return sketch_dense<T>(spec, A);
      },
      py::arg("kind"), py::arg("m"), py::arg("seed"), py::arg("nnz_per_column"),
      py::arg("A").noconvert(),
      "S @ A for a dense float32/float64 A (#n by #d) in C or Fortran order, without a copy.");
}

template <typename T>
void def_sparse(py::module_& m) {
  m.def(
      "sketch_sparse",
      [](const std::string& kind, Index rows, std::uint64_t seed, int nnz_per_column,
         Index n, Index d, bool csr, const py::array_t<std::int64_t, 0>& indptr,
         const py::array_t<std::int64_t, 0>& indices, const py::array_t<T, 0>& data) {
        const SketchSpec spec = make_spec(kind, rows, n, seed, nnz_per_column);
        const Index outer = csr ? n : d;
        if (indptr.ndim() != 1 || indptr.shape(0) != outer + 1)
          throw py::value_error("indptr must have length " + std::to_string(outer + 1));
        if (indices.ndim() != 1 || data.ndim() != 1 || indices.shape(0) != data.shape(0))
          throw py::value_error("indices and data must be 1-D arrays of the same length");
        const std::int64_t* ip = indptr.data();
        if (ip[outer] > indices.shape(0))
          throw py::value_error("indptr[-1] exceeds the length of indices");
        SparseView<T> view{n, d, csr, ip, indices.data(), data.data()};
        py::gil_scoped_release release;
        return sketch_sparse<T>(spec, view);
      },
      py::arg("kind"), py::arg("m"), py::arg("seed"), py::arg("nnz_per_column"), py::arg("n"),
      py::arg("d"), py::arg("csr"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(),
      "S @ A for a CSR (csr=True) or CSC matrix given by its arrays (int64 indices).");
}

}  // namespace

void bind_sketch(py::module_& m) {
  def_dense<double, RowMatrix<double>>(m);
  def_dense<double, ColMatrix<double>>(m);
  def_dense<float, RowMatrix<float>>(m);
  def_dense<float, ColMatrix<float>>(m);
  def_sparse<double>(m);
  def_sparse<float>(m);
  m.def(
      "sketch_matrix",
      [](const std::string& kind, Index rows, Index n, std::uint64_t seed, int nnz_per_column) {
        const SketchSpec spec = make_spec(kind, rows, n, seed, nnz_per_column);
        py::gil_scoped_release release;
        return sketch_matrix(spec);
      },
      py::arg("kind"), py::arg("m"), py::arg("n"), py::arg("seed"), py::arg("nnz_per_column"),
      "The sketch matrix S as a dense float64 #m by #n array.");
  m.def(
      "validate_sketch",
      [](const std::string& kind, Index rows, Index n, std::uint64_t seed, int nnz_per_column) {
        validate_sketch(make_spec(kind, rows, n, seed, nnz_per_column));
      },
      py::arg("kind"), py::arg("m"), py::arg("n"), py::arg("seed"), py::arg("nnz_per_column"),
      "Raise ValueError if the sketch's sizes are invalid.");
  m.def("srht_padded_size", &srht_padded_size, py::arg("n"),
        "The power of two N >= n to which the SRHT pads the rows.");
}

}  // namespace nearlinear::bindings

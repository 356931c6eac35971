// Types and error handling shared by every part of the nearlinear core.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nearlinear {

using Index = Eigen::Index;

/// Row-major dense matrix: the layout of a C-contiguous NumPy array.
template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Column-major dense matrix: the layout of a Fortran-ordered NumPy array.
template <typename T>
using ColMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <typename T>
using RowMatrixRef = Eigen::Ref<RowMatrix<T>>;
template <typename T>
using ConstRowMatrixRef = Eigen::Ref<const RowMatrix<T>>;
template <typename T>
using ColMatrixRef = Eigen::Ref<ColMatrix<T>>;
template <typename T>
using ConstColMatrixRef = Eigen::Ref<const ColMatrix<T>>;
template <typename T>
using VectorRef = Eigen::Ref<Vector<T>>;
template <typename T>
using ConstVectorRef = Eigen::Ref<const Vector<T>>;

/// A compressed sparse matrix given by its three arrays, without ownership.
/// `row_major` = CSR (indptr over rows), otherwise CSC (indptr over columns). `I` is the type
/// of indptr and indices: 64-bit (SparseView) or SciPy's 32-bit (SparseView32), read in place.
template <typename T, typename I>
struct SparseViewOf {
  Index rows = 0;
  Index cols = 0;
  bool row_major = true;
  const I* indptr = nullptr;   // length (row_major ? rows : cols) + 1
  const I* indices = nullptr;  // length nnz
  const T* data = nullptr;     // length nnz
  Index nnz() const { return indptr ? static_cast<Index>(indptr[row_major ? rows : cols]) : 0; }
};

template <typename T>
using SparseView = SparseViewOf<T, std::int64_t>;
template <typename T>
using SparseView32 = SparseViewOf<T, std::int32_t>;

namespace detail {
[[noreturn]] inline void throw_invalid(const char* file, int line, const std::string& msg) {
  (void)file;
  (void)line;
  throw std::invalid_argument(msg);
}
}  // namespace detail

}  // namespace nearlinear

/// Check a condition on user input; on failure throw std::invalid_argument (ValueError in
/// Python) with a message built by streaming: NL_CHECK(m > 0, "m must be positive; got " << m).
#define NL_CHECK(cond, msg)                                                  \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::ostringstream nl_check_stream_;                                   \
      nl_check_stream_ << msg;                                               \
      ::nearlinear::detail::throw_invalid(__FILE__, __LINE__, nl_check_stream_.str()); \
    }                                                                        \
  } while (0)

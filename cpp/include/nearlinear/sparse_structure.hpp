// Validation of a compressed sparse matrix's index arrays (CSR or CSC), for every solver that
// reads one: a malformed indptr or index would make it read or write out of bounds.
#pragma once

#include "nearlinear/common.hpp"

namespace nearlinear {

/// Throw std::invalid_argument (ValueError in Python), "sparse `<name>` is malformed: ...",
/// unless indptr and indices describe `outer` rows (CSR; columns for CSC) of `inner` entries:
/// indptr starts at 0 and never decreases, and every index lies in [0, inner); with `sorted`,
/// also each row's indices strictly increase (sorted, without duplicates). Parallel over
/// chunks of rows and of entries; the reported defect does not depend on the thread count
/// (the first, in this order: indptr, then the first offending entry's chunk).
template <typename I>
void check_compressed_structure(Index outer, Index inner, const I* indptr, const I* indices,
                                bool sorted, const char* name = "A");

/// check_compressed_structure for a view, after checking that its shape is not negative and
/// that its arrays are present.
template <typename T, typename I>
void check_sparse_structure(const SparseViewOf<T, I>& A, bool sorted, const char* name = "A") {
  NL_CHECK(A.rows >= 0 && A.cols >= 0, "`" << name << "` has a negative shape");
  NL_CHECK(A.indptr != nullptr, "sparse `" << name << "` is malformed: indptr is missing");
  NL_CHECK(A.nnz() == 0 || (A.indices != nullptr && A.data != nullptr),
           "sparse `" << name << "` is malformed: its index or data array is missing");
  check_compressed_structure(A.row_major ? A.rows : A.cols, A.row_major ? A.cols : A.rows,
                             A.indptr, A.indices, sorted, name);
}

}  // namespace nearlinear

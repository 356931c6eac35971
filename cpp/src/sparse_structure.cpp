// Parallel validation of compressed sparse index arrays (see sparse_structure.hpp).
#include "nearlinear/sparse_structure.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "nearlinear/parallel.hpp"

namespace nearlinear {
namespace {

constexpr Index kChunk = Index{1} << 16;

enum Defect : char { kNone = 0, kOutside, kUnsorted };

}  // namespace

template <typename I>
void check_compressed_structure(Index outer, Index inner, const I* indptr, const I* indices,
                                bool sorted, const char* name) {
  NL_CHECK(indptr[0] == 0,
           "sparse `" << name << "` is malformed: indptr must start at 0; got " << indptr[0]);
  const Index outer_chunks = (outer + kChunk - 1) / kChunk;
  std::vector<char> decreasing(static_cast<std::size_t>(outer_chunks), 0);
  parallel_for(0, outer_chunks, [&](std::int64_t c) {
    const Index end = std::min(outer, (c + 1) * kChunk);
    bool ok = true;
    for (Index i = c * kChunk; i < end; ++i) ok &= indptr[i + 1] >= indptr[i];
    decreasing[c] = !ok;
  });
  NL_CHECK(std::none_of(decreasing.begin(), decreasing.end(), [](char d) { return d != 0; }),
           "sparse `" << name << "` is malformed: indptr must be non-decreasing");

  // Entries in chunks of equal size, whatever the rows' lengths; with `sorted`, each chunk
  // finds the row of its first entry by bisection and then follows the row ends.
  const Index nnz = static_cast<Index>(indptr[outer]);
  const Index entry_chunks = (nnz + kChunk - 1) / kChunk;
  std::vector<char> defect(static_cast<std::size_t>(entry_chunks), kNone);
  parallel_for(0, entry_chunks, [&](std::int64_t c) {
    const Index begin = c * kChunk, end = std::min(nnz, begin + kChunk);
    bool inside = true;
    for (Index p = begin; p < end; ++p) inside &= indices[p] >= 0 && indices[p] < inner;
    if (!inside) {
      defect[c] = kOutside;
      return;
    }
    if (!sorted) return;
    // The row holding entry `begin`: the last i with indptr[i] <= begin (empty rows skipped).
    Index row = static_cast<Index>(std::upper_bound(indptr, indptr + outer + 1,
                                                    static_cast<I>(begin)) - indptr) - 1;
    Index row_end = static_cast<Index>(indptr[row + 1]);
    bool increasing = true;
    for (Index p = begin; p < end; ++p) {
      while (p >= row_end) row_end = static_cast<Index>(indptr[++row + 1]);
      const bool first = p == static_cast<Index>(indptr[row]);
      increasing &= first || indices[p] > indices[p - 1];
    }
    if (!increasing) defect[c] = kUnsorted;
  });
  for (const char d : defect) {
    NL_CHECK(d != kOutside, "sparse `" << name << "` is malformed: its indices must be in [0, "
                                       << inner << ")");
    NL_CHECK(d != kUnsorted, "sparse `" << name << "` is malformed: each "
                                        << "row's (CSR) or column's (CSC) indices must be "
                                           "sorted, without duplicates");
  }
}

template void check_compressed_structure<std::int32_t>(Index, Index, const std::int32_t*,
                                                       const std::int32_t*, bool, const char*);
template void check_compressed_structure<std::int64_t>(Index, Index, const std::int64_t*,
                                                       const std::int64_t*, bool, const char*);

}  // namespace nearlinear

// A row-major copy of a column-major A for the iterative least-squares methods (private to
// lstsq.cpp).
//
// Why: every pass of those methods computes y = A w and A^T y on a block of rows while it is
// in cache. In row-major order a block is one contiguous stretch, read once; in column-major
// order it is d column segments of 32768 / d rows, which the hardware prefetcher follows
// badly when they are short (at d = 1000 the pass is 2x slower than in row-major order). A
// precondition solve makes 5-15 passes, so for wide A one parallel transposed copy pays for
// itself: at 100000 x 1000 the whole solve is 1.4-1.5x faster with it, although most of the
// copy's cost is the first touch of its fresh pages (on a virtual machine). At d = 200 the
// segments are 1.3 KiB, the in-place passes about 1.5x slower, and the copy gained nothing:
// only an A of at least kRowMajorCopyMinCols columns is copied. The copy is temporary
// (LAPACK's drivers copy A too).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#if defined(__linux__)
#include <unistd.h>
#endif

#include "nearlinear/common.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear::lstsq_detail {

/// Bytes of physical memory free now, where the platform says (Linux); otherwise none.
inline std::optional<std::uint64_t> free_memory_bytes() {
#if defined(__linux__) && defined(_SC_AVPHYS_PAGES)
  const long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0)
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size);
#endif
  return std::nullopt;
}

/// The narrowest column-major A that the iterative methods copy into rows.
inline constexpr Index kRowMajorCopyMinCols = 257;

/// A row-major copy of A, or none when it would take more than a quarter of the free
/// physical memory (the caller then reads A in place). Tiles of 64 rows by 8 columns, row
/// tiles in parallel: each tile reads eight column segments and writes 64 short rows.
template <typename T>
std::optional<RowMatrix<T>> row_major_copy(const ConstColMatrixRef<T>& A) {
  const Index n = A.rows(), d = A.cols();
  const std::uint64_t bytes = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(d) *
                              sizeof(T);
  const std::optional<std::uint64_t> available = free_memory_bytes();
  if (available && bytes > *available / 4) return std::nullopt;
  RowMatrix<T> out(n, d);
  constexpr Index kRows = 64, kCols = 8;
  parallel_for(0, (n + kRows - 1) / kRows, [&](std::int64_t t) {
    const Index r0 = t * kRows, rows = std::min(kRows, n - r0);
    for (Index c0 = 0; c0 < d; c0 += kCols) {
      const Index cols = std::min(kCols, d - c0);
      out.block(r0, c0, rows, cols) = A.block(r0, c0, rows, cols);
    }
  }, Schedule::Dynamic, 16);
  return out;
}

}  // namespace nearlinear::lstsq_detail

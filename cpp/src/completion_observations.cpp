// Observation storage of matrix completion: COO triplets -> CSR and CSC with int32 indices.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "completion_internal.hpp"

namespace nearlinear {
namespace completion {

Observations make_observations(Index m, Index n, const std::int64_t* rows,
                               const std::int64_t* cols, const double* values, Index nnz) {
  constexpr Index kMaxDim = std::numeric_limits<std::int32_t>::max();
  NL_CHECK(m >= 1 && n >= 1, "shape must be positive; got (" << m << ", " << n << ")");
  NL_CHECK(m <= kMaxDim && n <= kMaxDim,
           "shape must be below 2^31 in each dimension; got (" << m << ", " << n << ")");
  NL_CHECK(nnz >= 1, "at least one observation is needed; got " << nnz);
  for (Index t = 0; t < nnz; ++t) {
    NL_CHECK(rows[t] >= 0 && rows[t] < m,
             "rows[" << t << "] = " << rows[t] << " is outside [0, " << m << ")");
    NL_CHECK(cols[t] >= 0 && cols[t] < n,
             "cols[" << t << "] = " << cols[t] << " is outside [0, " << n << ")");
    NL_CHECK(std::isfinite(values[t]), "values[" << t << "] is not finite");
  }

  Observations obs;
  obs.rows = m;
  obs.cols = n;
  obs.row_ptr.assign(m + 1, 0);
  obs.col_ptr.assign(n + 1, 0);
  for (Index t = 0; t < nnz; ++t) {
    ++obs.row_ptr[rows[t] + 1];
    ++obs.col_ptr[cols[t] + 1];
  }
  for (Index i = 0; i < m; ++i) obs.row_ptr[i + 1] += obs.row_ptr[i];
  for (Index j = 0; j < n; ++j) obs.col_ptr[j + 1] += obs.col_ptr[j];

  obs.row_idx.resize(nnz);
  obs.row_val.resize(nnz);
  {
    std::vector<std::int64_t> next(obs.row_ptr.begin(), obs.row_ptr.end() - 1);
    for (Index t = 0; t < nnz; ++t) {
      const std::int64_t p = next[rows[t]]++;
      obs.row_idx[p] = static_cast<std::int32_t>(cols[t]);
      obs.row_val[p] = values[t];
    }
  }

  // Sort each row by column (entries arrive in any order) and find duplicates. Each row
  // touches only its own slice, so the result does not depend on the schedule.
  detail::for_range(
      0, m, 20.0 * static_cast<double>(nnz),
      [&](std::int64_t i) {
        const std::int64_t b = obs.row_ptr[i], e = obs.row_ptr[i + 1];
        if (!std::is_sorted(obs.row_idx.begin() + b, obs.row_idx.begin() + e)) {
          std::vector<std::pair<std::int32_t, double>> entries(e - b);
          for (std::int64_t p = b; p < e; ++p) entries[p - b] = {obs.row_idx[p], obs.row_val[p]};
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& x, const auto& y) { return x.first < y.first; });
          for (std::int64_t p = b; p < e; ++p) {
            obs.row_idx[p] = entries[p - b].first;
            obs.row_val[p] = entries[p - b].second;
          }
        }
        for (std::int64_t p = b + 1; p < e; ++p)
          NL_CHECK(obs.row_idx[p] != obs.row_idx[p - 1],
                   "duplicated observation at (row, col) = (" << i << ", " << obs.row_idx[p]
                                                              << ")");
      },
      Schedule::Dynamic, 256);

  // Column order, filled row by row so every column's rows come out sorted.
  obs.col_idx.resize(nnz);
  obs.col_val.resize(nnz);
  {
    std::vector<std::int64_t> next(obs.col_ptr.begin(), obs.col_ptr.end() - 1);
    for (Index i = 0; i < m; ++i) {
      for (std::int64_t p = obs.row_ptr[i]; p < obs.row_ptr[i + 1]; ++p) {
        const std::int64_t q = next[obs.row_idx[p]]++;
        obs.col_idx[q] = static_cast<std::int32_t>(i);
        obs.col_val[q] = obs.row_val[p];
      }
    }
  }
  return obs;
}

}  // namespace completion
}  // namespace nearlinear

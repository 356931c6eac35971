// Posterior averaging of the Gibbs sweeps in one call (the loop of the Python model's
// `_sample` without its per-sweep hooks): the stacked Rao-Blackwellised factors are filled
// column block by column block as the sweeps run, with the same arithmetic in the same order.
#include <chrono>
#include <cmath>
#include <limits>

#include "nearlinear/completion.hpp"
#include "nearlinear/interrupt.hpp"

namespace nearlinear {
namespace completion {

PosteriorAverage Solver::sample_posterior(int warmup, int burn_in, int samples) {
  NL_CHECK(X_.rows() == obs_.rows, "initialize() must be called before sample_posterior()");
  NL_CHECK(warmup >= 0 && burn_in >= 0,
           "warmup and burn_in must be >= 0; got " << warmup << " and " << burn_in);
  NL_CHECK(samples >= 1, "samples must be >= 1; got " << samples);
  const auto start = std::chrono::steady_clock::now();
  const Index k = opt_.rank, m = obs_.rows, n = obs_.cols;
  const double scale = 1.0 / std::sqrt(2.0 * static_cast<double>(samples));
  PosteriorAverage out;
  out.U.resize(m, 2 * samples * k);
  out.V.resize(n, 2 * samples * k);
  out.row_bias = Vector<double>::Zero(m);
  out.col_bias = Vector<double>::Zero(n);
  const int total = warmup + burn_in + samples;
  for (int sweep = 0; sweep < total; ++sweep) {
    check_interrupt();
    const bool gibbs = sweep >= warmup;
    double objective_value = std::numeric_limits<double>::quiet_NaN();
    if (gibbs) {
      gibbs_sweep(static_cast<std::uint64_t>(sweep - warmup));
    } else {
      this->sweep();
      objective_value = objective();
    }
    const int sample = sweep - warmup - burn_in;  // 0-based; negative before averaging
    if (sample >= 0) {
      const Index c = 2 * sample * k;
      out.U.middleCols(c, k) = X_mean_.leftCols(k) * scale;
      out.U.middleCols(c + k, k) = X_.leftCols(k) * scale;
      out.V.middleCols(c, k) = Y_prev_.leftCols(k) * scale;
      out.V.middleCols(c + k, k) = Y_mean_.leftCols(k) * scale;
      if (opt_.biases) {
        for (Index i = 0; i < m; ++i) out.row_bias[i] += 0.5 * (X_mean_(i, k) + X_(i, k));
        for (Index j = 0; j < n; ++j) out.col_bias[j] += 0.5 * (Y_prev_(j, k) + Y_mean_(j, k));
      }
    }
    out.train_rmse.push_back(train_rmse());  // free after a Gibbs sweep (kept from its draws)
    out.objective.push_back(objective_value);
    out.seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  out.row_bias /= static_cast<double>(samples);
  out.col_bias /= static_cast<double>(samples);
  return out;
}

}  // namespace completion
}  // namespace nearlinear

// Low-rank matrix completion by alternating minimisation.
//
// Model: a #m by #n matrix observed on a set Omega of entries (i, j, y_ij) is fitted by
//     y_ij ~ mu + b_i + c_j + u_i . v_j,   U = [u_i] (#m by #k), V = [v_j] (#n by #k),
// where mu (global mean) and the biases b, c are used only when `biases` is on (otherwise
// mu = b = c = 0 and the model is the plain rank-k product U V^T).
//
// Each sweep updates every row of [U, b] with [V, c] fixed, then every row of [V, c] with
// [U, b] fixed. Row i solves the ridge problem (ALS-WR, Zhou et al. 2008)
//     min_x || y_i - mu - c_Omega_i - A_i x ||^2 + n_i (reg ||u||^2 + bias_reg b^2),  x = [u, b],
// A_i = [V_Omega_i, 1] (n_i by d, d = k + 1 with biases, else A_i = V_Omega_i and d = k).
//   * Method::ALS solves it exactly (normal equations + Cholesky): O(n_i d^2 + d^3) per row,
//     O(|Omega| k^2) per sweep (Jain, Netrapalli, Sanghavi 2013, Algorithm 2).
//   * Method::RobustAM solves it approximately (Gu, Song, Yin, Zhang, ICLR 2024): a few
//     iterations of preconditioned conjugate gradients on the normal equations, warm-started
//     at the previous sweep's row and applied matrix-free, O(n_i d) per iteration, so
//     O(|Omega| k) per sweep. The preconditioner is one d by d matrix per half-sweep,
//         P = (1/|Omega|) sum_{(i,j) in Omega} a_j a_j^T + diag(reg, ..., reg, bias_reg),
//     the expected per-observation Gram matrix: with ALS-WR's n_i scaling of the ridge the
//     row system has expectation n_i P when row i's observations follow
//     the column frequencies, and PCG is invariant to the factor n_i, so one explicit inverse
//     of P (from its Cholesky factor, O(d^3) per half-sweep) serves every row as one d by d
//     matrix-vector product per iteration (O(d^2), vectorised, unlike triangular solves). Each
//     row stops when its normal-equation residual fell by `inner_tol` or after `max_inner`
//     iterations; the inexact solves keep the linear convergence of exact ALS (the paper's
//     robustness argument) because the warm start's error shrinks with the outer error.
//
// Initialisation (Jain et al. 2013): the top-k SVD of the rescaled observed matrix
// (|Omega|/(m n))^-1 P_Omega(Y - mu), computed by a randomized range finder (Halko,
// Martinsson, Tropp 2011, Algorithms 4.4 and 5.1, with k + 10 columns and two power
// iterations); rows of the right singular vectors whose norm exceeds 2 sqrt(k/n) (the
// incoherence bound with mu = 4) are scaled down to it and the result re-orthonormalised
// (clipping). U = P_k S^1/2, V = Q_k S^1/2.
//
// Posterior sampling (Salakhutdinov and Mnih, ICML 2008, "Bayesian probabilistic matrix
// factorization using Markov chain Monte Carlo", section 3.3): the model above with Gaussian
// noise of precision alpha, rows x_i = [u_i, b_i] drawn from N(mu_U, Lambda_U^-1) and columns
// likewise, a Normal-Wishart prior on (mu_U, Lambda_U) and (mu_V, Lambda_V) (mu_0 = 0,
// beta_0 = 2, nu_0 = d, W_0 = I) and a Gamma(1, 1) prior on alpha. `gibbs_sweep()` draws, in
// turn, alpha given the residuals, (mu_U, Lambda_U) given the rows, every row from its Gaussian
// conditional (the normal equations of ALS with the ridge replaced by the prior, plus the
// noise L^-T z of the Cholesky factor L L^T of the conditional precision), then the same for
// the columns. The conditional means it computes on the way are kept: averaging the
// predictions of (conditional mean of U) against the V it was conditioned on, and of U
// against the conditional mean of V, over the sweeps is the Rao-Blackwellised posterior mean.
//
// Every parallel loop runs over rows (or chunks of fixed size), each writing its own
// output, with reductions summed in a fixed order: results depend only on the inputs and the
// seed, not on the thread count. Loops of under about 2e7 flops run on the calling thread.
//
// Units: reg has the units of the values and bias_reg none, but the priors of the Bayesian
// model (W_0 = I, the Gamma(1, 1) on alpha) carry absolute units, and squares of values
// beyond about 1e154 (or below 1e-154) over- (or under-)flow in the residual sums. Callers
// wanting a fit that does not depend on the scale of the values pass them divided by their
// spread and scale the model back (as nearlinear.complete does: U and V by sqrt(spread),
// mu and the biases by spread), with reg divided by the spread.
#pragma once

#include <cstdint>
#include <vector>

#include "nearlinear/common.hpp"

namespace nearlinear {
namespace completion {

enum class Method { ALS, RobustAM };

struct Options {
  Index rank = 10;          ///< k >= 1, k <= min(m, n)
  Method method = Method::RobustAM;
  double reg = 0.0;         ///< ridge per observation on the factors (ALS-WR), >= 0
  double bias_reg = 0.0;    ///< ridge per observation on the biases, >= 0
  bool biases = true;       ///< fit mu, b, c
  std::uint64_t seed = 0;   ///< seeds the randomized SVD initialisation
  double inner_tol = 0.3;   ///< RobustAM: relative residual reduction per row solve, in (0, 1)
  int max_inner = 10;       ///< RobustAM: most CG iterations per row solve, >= 1
};

/// Observations stored twice, by row (CSR) and by column (CSC), with int32 indices and
/// int64 offsets: 12 bytes per entry per order.
struct Observations {
  Index rows = 0, cols = 0;
  std::vector<std::int64_t> row_ptr;  ///< #rows + 1
  std::vector<std::int32_t> row_idx;  ///< column of each entry in row order (sorted per row)
  std::vector<double> row_val;
  std::vector<std::int64_t> col_ptr;  ///< #cols + 1
  std::vector<std::int32_t> col_idx;  ///< row of each entry in column order (sorted per column)
  std::vector<double> col_val;
  Index nnz() const { return static_cast<Index>(row_idx.size()); }
};

/// Build both orders from COO triplets (`nnz` entries each).
/// Throws std::invalid_argument for m or n < 1 or >= 2^31, nnz < 1, an index outside
/// [0, m) x [0, n), a non-finite value, or a duplicated (row, col) pair. O(nnz log(nnz/m)).
Observations make_observations(Index m, Index n, const std::int64_t* rows,
                               const std::int64_t* cols, const double* values, Index nnz);

/// One approximate ridge solve of RobustAM: preconditioned CG on
///     (A^T A + diag(lambda)) x = A^T y,
/// A #n_i by #d (row-major), y #n_i, lambda #d (>= 0), x #d the warm start (overwritten),
/// `precond` the lower Cholesky factor L of the preconditioner (L L^T), or an empty matrix
/// for none. Stops when ||residual|| <= tol * ||residual at x0|| or after max_iter
/// iterations. Returns the iterations used. O(n_i d) per iteration plus O(d^2) for P.
int pcg_row_solve(const ConstRowMatrixRef<double>& A, const double* y, const double* lambda,
                  const RowMatrix<double>& precond, double tol, int max_iter, double* x);

/// Result of Solver::sample_posterior: the averaged predictor
///     mu + b_i + c_j + (1/S) sum_s (E[u_i^s | V^(s-1)] . v_j^(s-1) + u_i^s . E[v_j^s | U^s])
/// as one product U V^T: sample s fills columns [2 s k, 2 (s + 1) k) of U (#m by #(2 S k))
/// with [E[u^s | V^(s-1)], u^s] and of V (#n by #(2 S k)) with [v^(s-1), E[v^s | U^s]], each
/// scaled by 1/sqrt(2 S). The biases are the averages of the same pairs (zeros without
/// biases). Per sweep (warm-up and burn-in included): the training RMSE, the objective
/// (NaN for Gibbs sweeps, which minimise nothing) and the seconds since the call began.
struct PosteriorAverage {
  RowMatrix<double> U, V;
  Vector<double> row_bias, col_bias;
  std::vector<double> train_rmse, objective, seconds;
};

/// The alternating-minimisation state. Construction validates options against the data;
/// `initialize()` sets mu, zero biases and the SVD start; each `sweep()` updates rows then
/// columns. Not thread-safe; every method parallelises internally.
class Solver {
 public:
  /// Throws std::invalid_argument when rank < 1 or rank > min(m, n), reg or bias_reg < 0 or
  /// not finite,
  /// inner_tol not in (0, 1), max_inner < 1.
  Solver(Observations obs, const Options& options);

  void initialize();
  void sweep();

  /// One Gibbs sweep of the Bayesian model (see the top of this header), number `index`
  /// (keys the random draws together with the seed). Starts from the current factors, e.g.
  /// after `initialize()` and a few `sweep()`s. O(|Omega| d^2 + (m + n) d^3).
  void gibbs_sweep(std::uint64_t index);
  /// After gibbs_sweep: the conditional means of the rows given the columns the sweep started
  /// from (#m by #d), those columns (#n by #d) and the conditional means of the columns given
  /// the new rows (#n by #d); with biases the last column holds the bias. The noise
  /// precision alpha drawn by the last sweep (0 before any).
  const RowMatrix<double>& row_means() const { return X_mean_; }
  const RowMatrix<double>& previous_columns() const { return Y_prev_; }
  const RowMatrix<double>& column_means() const { return Y_mean_; }
  double noise_precision() const { return alpha_; }
  /// Posterior averaging in one call, with no per-sweep work beyond the sweeps:
  /// `warmup` sweep()s, `burn_in` discarded gibbs_sweep()s, then `samples` gibbs_sweep()s
  /// (numbered from 0 across burn-in and samples) whose Rao-Blackwellised predictors are
  /// averaged (see PosteriorAverage). Throws std::invalid_argument before initialize() or
  /// for warmup or burn_in < 0 or samples < 1. O(sweeps |Omega| d^2 + (m + n) samples k).
  PosteriorAverage sample_posterior(int warmup, int burn_in, int samples);

  /// The prior mean (#d) and precision (#d by #d) of the rows, and of the columns, drawn by
  /// the last sweep.
  const Vector<double>& row_prior_mean() const { return mu_U_; }
  const RowMatrix<double>& row_prior_precision() const { return Lambda_U_; }
  const Vector<double>& column_prior_mean() const { return mu_V_; }
  const RowMatrix<double>& column_prior_precision() const { return Lambda_V_; }

  /// Root-mean-square error of the model on the training observations. O(|Omega| k) once
  /// per state (cached until the next sweep, so `objective()` after it is O((m + n) k)).
  double train_rmse() const;
  /// The objective every half-step decreases, per observation:
  /// (sum_Omega e_ij^2 + sum_i n_i (reg ||u_i||^2 + bias_reg b_i^2) + the same over j) / |Omega|.
  /// O(|Omega| k).
  double objective() const;

  Index rank() const { return opt_.rank; }
  const Observations& observations() const { return obs_; }
  /// #m by #k and #n by #k factors; row/column biases (zeros without biases); mu.
  RowMatrix<double> U() const;
  RowMatrix<double> V() const;
  Vector<double> row_bias() const;
  Vector<double> col_bias() const;
  double mean() const { return mu_; }
  /// RobustAM: total CG iterations in the last sweep (0 for ALS).
  std::int64_t last_inner_iterations() const { return inner_iterations_; }

 private:
  void half_step(bool update_rows);
  void gibbs_half_step(bool update_rows, std::uint64_t index);

  RowMatrix<double> X_mean_, Y_mean_, Y_prev_;  // Gibbs: conditional means, previous columns
  double alpha_ = 0.0;                          // Gibbs: noise precision
  Vector<double> mu_U_, mu_V_;                  // Gibbs: prior means and precisions
  RowMatrix<double> Lambda_U_, Lambda_V_;

  Observations obs_;
  Options opt_;
  Index d_ = 0;                  // variables per row: k (+1 with biases)
  RowMatrix<double> X_, Y_;      // #m by #d and #n by #d: [U, b] and [V, c]
  double mu_ = 0.0;
  std::int64_t inner_iterations_ = 0;
  mutable double train_rmse_ = 0.0;  // cache of train_rmse() for the current factors
  mutable bool train_rmse_valid_ = false;
};

/// Predictions mu + b_r + c_c + U_r . V_c for #q pairs (rows[t], cols[t]), U #m by #k,
/// V #n by #k, row_bias #m, col_bias #n. Throws std::invalid_argument for mismatched sizes
/// or any index outside [0, m) x [0, n). O(q k).
Vector<double> predict(const ConstRowMatrixRef<double>& U, const ConstRowMatrixRef<double>& V,
                       const ConstVectorRef<double>& row_bias,
                       const ConstVectorRef<double>& col_bias, double mean,
                       const std::int64_t* rows, const std::int64_t* cols, Index q);

}  // namespace completion
}  // namespace nearlinear

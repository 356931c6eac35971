// Gibbs sampling of the Bayesian model of matrix completion (Salakhutdinov and Mnih 2008).
// See completion.hpp for the model; the priors and their conditionals are those of the
// paper's section 3.3 and appendix.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <vector>

#include "completion_internal.hpp"
#include "nearlinear/completion.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace completion {

namespace {

// Random streams of one sweep: hyperparameters (sequential draws) and row noise (by counter).
constexpr std::uint64_t kHyperStream = 0x6a09e667f3bcc908ULL;
constexpr std::uint64_t kRowStream = 0xbb67ae8584caa73bULL;

// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) U^(1/shape).
double gamma_draw(rng::Stream& s, double shape) {
  if (shape < 1.0) return gamma_draw(s, shape + 1.0) * std::pow(1.0 - s.uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = s.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = 1.0 - s.uniform();  // (0, 1]
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

// Draw (mu, Lambda) from the Normal-Wishart conditional given the rows of F that have
// observations (ptr), with mu_0 = 0, beta_0 = 2, nu_0 = d, W_0 = I. Lambda ~ Wishart(nu_n, W_n)
// by the Bartlett decomposition, mu ~ N(mu_n, (beta_n Lambda)^-1).
void draw_hyperparameters(const RowMatrix<double>& F, const std::vector<std::int64_t>& ptr,
                          rng::Stream& s, Vector<double>& mu, RowMatrix<double>& Lambda) {
  const Index d = F.cols();
  Index N = 0;
  Vector<double> mean = Vector<double>::Zero(d);
  for (Index i = 0; i < F.rows(); ++i)
    if (ptr[i + 1] > ptr[i]) {
      mean += F.row(i).transpose();
      ++N;
    }
  mean /= std::max<double>(static_cast<double>(N), 1.0);
  RowMatrix<double> scatter = RowMatrix<double>::Zero(d, d);  // N S
  for (Index i = 0; i < F.rows(); ++i)
    if (ptr[i + 1] > ptr[i]) {
      const Vector<double> c = F.row(i).transpose() - mean;
      scatter.noalias() += c * c.transpose();
    }
  constexpr double beta0 = 2.0;
  const double n = static_cast<double>(N), beta_n = beta0 + n, nu_n = static_cast<double>(d) + n;
  RowMatrix<double> W_inv = RowMatrix<double>::Identity(d, d) + scatter +
                            (beta0 * n / beta_n) * (mean * mean.transpose());
  const Vector<double> mu_n = (n / beta_n) * mean;
  Eigen::LLT<RowMatrix<double>> llt(W_inv);
  const RowMatrix<double> W = llt.solve(RowMatrix<double>::Identity(d, d));
  const RowMatrix<double> Lw = Eigen::LLT<RowMatrix<double>>(W).matrixL();
  RowMatrix<double> B = RowMatrix<double>::Zero(d, d);
  for (Index r = 0; r < d; ++r) {
    B(r, r) = std::sqrt(2.0 * gamma_draw(s, 0.5 * (nu_n - static_cast<double>(r))));
    for (Index c = 0; c < r; ++c) B(r, c) = s.normal();
  }
  const RowMatrix<double> LB = Lw * B;
  Lambda = LB * LB.transpose();
  // mu = mu_n + (beta_n Lambda)^-1/2 z with the Cholesky factor of beta_n Lambda.
  RowMatrix<double> P = beta_n * Lambda;
  Eigen::LLT<RowMatrix<double>> pl;
  detail::factor(P, pl);
  Vector<double> z(d);
  for (Index c = 0; c < d; ++c) z[c] = s.normal();
  pl.matrixU().solveInPlace(z);
  mu = mu_n + z;
}

// Lower Cholesky factor L (row-major #d by #d, lower triangle written) of the symmetric G
// (row-major, lower triangle read), by plain loops: at the small d of a factor model these
// beat a general blocked factorisation, whose setup dominates there. A pivot below `floor`
// fails the factorisation (returns false) when floor is 0 and is raised to floor otherwise.
bool small_cholesky(const double* G, Index d, double floor, double* L, double* inv) {
  for (Index j = 0; j < d; ++j) {
    const double* Lj = L + j * d;
    for (Index i = j; i < d; ++i) {
      const double* Li = L + i * d;
      double s = G[i * d + j];
      for (Index p = 0; p < j; ++p) s -= Li[p] * Lj[p];
      if (i == j) {
        if (!(s > floor)) {
          if (floor == 0.0) return false;
          s = floor;
        }
        L[j * d + j] = std::sqrt(s);
        inv[j] = 1.0 / L[j * d + j];
      } else {
        L[i * d + j] = s * inv[j];
      }
    }
  }
  return true;
}

// x <- L^-1 x (forward substitution) for the lower factor L of small_cholesky and the
// inverses `inv` of its diagonal.
void lower_solve(const double* L, const double* inv, Index d, double* x) {
  for (Index i = 0; i < d; ++i) {
    double s = x[i];
    for (Index p = 0; p < i; ++p) s -= L[i * d + p] * x[p];
    x[i] = s * inv[i];
  }
}

// x <- L^-T x (back substitution).
void upper_solve(const double* L, const double* inv, Index d, double* x) {
  for (Index i = d - 1; i >= 0; --i) {
    const double xi = x[i] * inv[i];
    x[i] = xi;
    for (Index p = 0; p < i; ++p) x[p] -= L[i * d + p] * xi;
  }
}

}  // namespace

void Solver::gibbs_sweep(std::uint64_t index) {
  NL_CHECK(X_.rows() == obs_.rows, "initialize() must be called before gibbs_sweep()");
  // alpha | residuals ~ Gamma(1 + |Omega|/2, rate 1 + SSE/2).
  const double sse = train_rmse() * train_rmse() * static_cast<double>(obs_.nnz());
  rng::Stream s(opt_.seed, kHyperStream ^ (2 * index));
  alpha_ = gamma_draw(s, 1.0 + 0.5 * static_cast<double>(obs_.nnz())) / (1.0 + 0.5 * sse);
  Y_prev_ = Y_;
  train_rmse_valid_ = false;
  gibbs_half_step(true, index);
  gibbs_half_step(false, index);
}

void Solver::gibbs_half_step(bool update_rows, std::uint64_t index) {
  const Index k = opt_.rank, d = d_;
  const bool biases = opt_.biases;
  RowMatrix<double>& T = update_rows ? X_ : Y_;
  RowMatrix<double>& means = update_rows ? X_mean_ : Y_mean_;
  const RowMatrix<double>& F = update_rows ? Y_ : X_;
  const auto& ptr = update_rows ? obs_.row_ptr : obs_.col_ptr;
  const auto& idx = update_rows ? obs_.row_idx : obs_.col_idx;
  const auto& val = update_rows ? obs_.row_val : obs_.col_val;
  const Index outer = T.rows();
  const std::uint64_t side = 2 * index + (update_rows ? 0 : 1);

  Vector<double>& mu = update_rows ? mu_U_ : mu_V_;
  RowMatrix<double>& Lambda = update_rows ? Lambda_U_ : Lambda_V_;
  rng::Stream hyper(opt_.seed, kHyperStream ^ (2 * side + 1));
  draw_hyperparameters(T, ptr, hyper, mu, Lambda);
  const Vector<double> prior_shift = Lambda * mu;
  means.setZero(outer, d);

  std::int64_t max_count = 0;
  for (Index i = 0; i < outer; ++i) max_count = std::max(max_count, ptr[i + 1] - ptr[i]);
  // Row t of the gathered design holds [a_t, y_t, 0...] (width D, a multiple of 4): the
  // lower triangle of its Gram matrix holds A^T A, then A^T y and y^T y in row d.
  const Index D = (d + 1 + 3) / 4 * 4;
  // Per-thread scratch sized once: the row loop below allocates nothing.
  struct Scratch {
    std::vector<double> A;  // row-major #n_i by #D
    std::vector<double> gram, G, L, inv, rhs, noise;
  };
  std::vector<Scratch> scratch(get_num_threads());
  for (auto& sc : scratch) {
    sc.A.assign(static_cast<std::size_t>(max_count) * D, 0.0);
    sc.gram.resize(D * D);
    sc.G.resize(d * d);
    sc.L.resize(d * d);
    sc.inv.resize(d);
    sc.rhs.resize(d);
    sc.noise.resize(d);
  }
  // Squared training residuals of each row after its draw: after the column half-step these
  // sum to the training SSE of the new state, so train_rmse() costs nothing more.
  std::vector<double> row_sse(outer, 0.0);
  const double alpha = alpha_;
  const double work = static_cast<double>(obs_.nnz()) * static_cast<double>(D * D) / 2.0;
  detail::for_range(
      0, outer, work,
      [&](std::int64_t i) {
        const std::int64_t b = ptr[i], n_i = ptr[i + 1] - ptr[i];
        if (n_i == 0) {  // cold start: zero factors, as in the point estimate
          T.row(i).setZero();
          return;
        }
        Scratch& sc = scratch[omp_get_thread_num()];
        double* A = sc.A.data();
        double* W = sc.gram.data();
        double* G = sc.G.data();
        double* L = sc.L.data();
        double* inv = sc.inv.data();
        double* rhs = sc.rhs.data();
        double* z = sc.noise.data();
        for (std::int64_t t = 0; t < n_i; ++t) {
          const Index j = idx[b + t];
          const double* f = F.row(j).data();
          double* a = A + t * D;
          for (Index c = 0; c < k; ++c) a[c] = f[c];
          if (biases) a[k] = 1.0;
          a[d] = biases ? val[b + t] - mu_ - f[k] : val[b + t];
        }
        detail::gram_lower(A, n_i, D, W);
        // Precision Lambda + alpha A^T A, mean (precision)^-1 (Lambda mu + alpha A^T y).
        double trace = 0.0;
        for (Index r = 0; r < d; ++r) {
          for (Index c = 0; c <= r; ++c) G[r * d + c] = alpha * W[r * D + c] + Lambda(r, c);
          rhs[r] = alpha * W[d * D + r] + prior_shift[r];
          trace += G[r * d + r];
        }
        // Numerically singular: jitter the pivots as detail::factor does.
        if (!small_cholesky(G, d, 0.0, L, inv))
          small_cholesky(G, d, 1e-12 * std::max(trace / static_cast<double>(d), 1e-300), L, inv);
        lower_solve(L, inv, d, rhs);
        upper_solve(L, inv, d, rhs);
        const std::uint64_t base = 2 * static_cast<std::uint64_t>(i) * static_cast<std::uint64_t>(d);
        // Both Box-Muller normals of each pair of words: half the hashes and logarithms.
        for (Index c = 0; c < d; c += 2) {
          const double u1 = 1.0 - rng::to_unit(rng::hash(opt_.seed, kRowStream ^ side, base + c));
          const double u2 = rng::to_unit(rng::hash(opt_.seed, kRowStream ^ side, base + c + 1));
          const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 6.283185307179586 * u2;
          z[c] = radius * std::cos(angle);
          if (c + 1 < d) z[c + 1] = radius * std::sin(angle);
        }
        upper_solve(L, inv, d, z);  // L^-T z has covariance (L L^T)^-1
        for (Index c = 0; c < d; ++c) {
          means(i, c) = rhs[c];
          T(i, c) = rhs[c] + z[c];
        }
        // ||y - A x||^2 = y^T y - 2 x^T A^T y + x^T A^T A x at the drawn x.
        const double* x = T.row(i).data();
        double sse = W[d * D + d];
        for (Index r = 0; r < d; ++r) {
          double gx = 0.0;  // (A^T A x)_r from the lower triangle
          for (Index c = 0; c <= r; ++c) gx += W[r * D + c] * x[c];
          for (Index c = r + 1; c < d; ++c) gx += W[c * D + r] * x[c];
          sse += x[r] * (gx - 2.0 * W[d * D + r]);
        }
        row_sse[i] = std::max(sse, 0.0);
      },
      Schedule::Dynamic, 64);
  if (!update_rows) {
    double sse = 0.0;  // summed in index order: independent of the thread count
    for (double e : row_sse) sse += e;
    train_rmse_ = std::sqrt(sse / static_cast<double>(obs_.nnz()));
    train_rmse_valid_ = true;
  }
}

}  // namespace completion
}  // namespace nearlinear

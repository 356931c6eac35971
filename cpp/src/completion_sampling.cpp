// Gibbs sampling of the Bayesian model of matrix completion (Salakhutdinov and Mnih 2008).
// See completion.hpp for the model; the priors and their conditionals are those of the
// paper's section 3.3 and appendix.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <vector>

#include "completion_gibbs_kernels.hpp"
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
  RowMatrix<double> scatter = RowMatrix<double>::Zero(d, d);  // N S, lower triangle
  std::vector<double> c(d);
  for (Index i = 0; i < F.rows(); ++i)
    if (ptr[i + 1] > ptr[i]) {
      const double* f = F.row(i).data();
      for (Index q = 0; q < d; ++q) c[q] = f[q] - mean[q];
      for (Index r = 0; r < d; ++r) {
        double* out = scatter.row(r).data();
        for (Index q = 0; q <= r; ++q) out[q] += c[r] * c[q];
      }
    }
  scatter.triangularView<Eigen::StrictlyUpper>() = scatter.transpose();
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

// Per-thread scratch of the row draws, sized once per half-step: no row allocates.
struct Scratch {
  std::vector<double> A;  // gathered design (when needed), row-major #n_i by #D
  std::vector<double> W, G, inv, mean, draw;
  void resize(std::int64_t max_count, Index D, bool gathered) {
    if (gathered) A.assign(static_cast<std::size_t>(max_count) * D, 0.0);
    W.resize(D * D);
    G.resize(D * D);
    inv.resize(D);
    mean.resize(D);
    draw.resize(D);
  }
};

// The inputs and outputs of one half-step's row draws.
struct RowDraw {
  const std::int64_t* ptr;  // compressed observations of the rows drawn
  const std::int32_t* idx;
  const double* val;
  const double* padded;     // #other by #D: the padded design row of each fixed row
  Index d, D;
  const double* Lambda;     // prior precision, #d by #d row-major
  const double* shift;      // Lambda mu, #d
  double alpha;             // noise precision
  std::uint64_t seed, stream;
  double* T;                // drawn rows, #outer by #d row-major
  double* means;            // their conditional means, #outer by #d
  double* row_sse;          // squared training residuals of each drawn row (null: skipped)
};

// Draw row i from N(Q^-1 (Lambda mu + alpha A^T y), Q^-1), Q = Lambda + alpha A^T A, as
// mean + U^-1 z for the Cholesky factor U^T U = Q, and record its conditional mean and its
// squared residuals. kD: the width D at compile time (0: at run time).
template <int kD>
void draw_row(const RowDraw& p, std::int64_t i, Scratch& sc) {
  const Index d = p.d, D = detail::width<kD>(p.D);
  double* x = p.T + i * d;
  const std::int64_t b = p.ptr[i], n_i = p.ptr[i + 1] - p.ptr[i];
  if (n_i == 0) {  // cold start: zero factors, as in the point estimate
    std::fill(x, x + d, 0.0);
    if (p.row_sse != nullptr) p.row_sse[i] = 0.0;
    return;
  }
  double* A = sc.A.data();
  double* W = sc.W.data();
  double* G = sc.G.data();
  double* inv = sc.inv.data();
  double* mean = sc.mean.data();
  double* z = sc.draw.data();
  detail::gather_gram<kD>(p.padded, p.idx + b, p.val + b, n_i, d, D, A, W);
  // Q (upper triangle; identity in the padding) and its right-hand side.
  auto fill_q = [&] {
    for (Index r = 0; r < D; ++r)
      for (Index c = r; c < D; ++c)
        G[r * D + c] = r < d && c < d ? p.alpha * W[c * D + r] + p.Lambda[r * d + c]
                                      : static_cast<double>(r == c);
  };
  fill_q();
  double trace = 0.0;
  for (Index r = 0; r < D; ++r) {
    mean[r] = r < d ? p.alpha * W[d * D + r] + p.shift[r] : 0.0;
    if (r < d) trace += G[r * D + r];
  }
  if (!detail::upper_cholesky<kD>(G, D, 0.0, inv)) {
    // Numerically singular: jitter the pivots as detail::factor does (the factorisation
    // overwrote G's upper triangle; rebuild it).
    fill_q();
    detail::upper_cholesky<kD>(G, D, 1e-12 * std::max(trace / static_cast<double>(d), 1e-300),
                               inv);
  }
  detail::transposed_upper_solve<kD>(G, inv, D, mean);  // w = U^-T rhs
  // Both Box-Muller normals of each pair of words: half the hashes and logarithms.
  const std::uint64_t base = 2 * static_cast<std::uint64_t>(i) * static_cast<std::uint64_t>(d);
  for (Index c = 0; c < d; c += 2) {
    const double u1 = 1.0 - rng::to_unit(rng::hash(p.seed, p.stream, base + c));
    const double u2 = rng::to_unit(rng::hash(p.seed, p.stream, base + c + 1));
    const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 6.283185307179586 * u2;
    z[c] = mean[c] + radius * std::cos(angle);
    if (c + 1 < d) z[c + 1] = mean[c + 1] + radius * std::sin(angle);
  }
  for (Index c = d; c < D; ++c) z[c] = 0.0;
  // U^-1 w is the mean and U^-1 (w + z) the draw: z has covariance I, U^-1 z (U^T U)^-1.
  detail::upper_solve2<kD>(G, inv, D, mean, z);
  double* m = p.means + i * d;
  for (Index c = 0; c < d; ++c) {
    m[c] = mean[c];
    x[c] = z[c];
  }
  if (p.row_sse == nullptr) return;
  // ||y - A x||^2 = y^T y - 2 x^T A^T y + x^T A^T A x at the drawn x.
  double sse = W[d * D + d];
  for (Index r = 0; r < d; ++r) {
    double gx = 0.0;  // (A^T A x)_r from the lower triangle
    for (Index c = 0; c <= r; ++c) gx += W[r * D + c] * x[c];
    for (Index c = r + 1; c < d; ++c) gx += W[c * D + r] * x[c];
    sse += x[r] * (gx - 2.0 * W[d * D + r]);
  }
  p.row_sse[i] = std::max(sse, 0.0);
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
  // Width D of a design row (a multiple of 4): observation t of row i is the padded row
  // [f_j, 1, -mu - c_j, 0...] of its column j (with biases; [f_j, 0...] without) plus its
  // value in entry d, so that the lower triangle of the Gram matrix of the gathered rows
  // holds A^T A, then A^T y and y^T y in row d.
  const Index D = (d + 1 + 3) / 4 * 4;
  RowMatrix<double> padded = RowMatrix<double>::Zero(F.rows(), D);
  for (Index j = 0; j < F.rows(); ++j) {
    for (Index c = 0; c < k; ++c) padded(j, c) = F(j, c);
    if (biases) {
      padded(j, k) = 1.0;
      padded(j, d) = -mu_ - F(j, k);
    }
  }
  std::vector<Scratch> scratch(get_num_threads());
  const bool one_pass = (D == 4 && detail::gram_in_one_pass<4>()) ||
                        (D == 8 && detail::gram_in_one_pass<8>()) ||
                        (D == 12 && detail::gram_in_one_pass<12>());
  for (auto& sc : scratch) sc.resize(max_count, D, !one_pass);
  // Squared training residuals of each column after its draw: after the column half-step these
  // sum to the training SSE of the new state, so train_rmse() costs nothing more (the row
  // half-step's would be stale at once, so it skips them).
  std::vector<double> row_sse(update_rows ? 0 : outer, 0.0);
  RowDraw draw{ptr.data(), idx.data(), val.data(), padded.data(), d, D, Lambda.data(),
               prior_shift.data(), alpha_, opt_.seed, kRowStream ^ side,
               T.data(), means.data(), update_rows ? nullptr : row_sse.data()};
  const double work = static_cast<double>(obs_.nnz()) * static_cast<double>(D * D) / 2.0;
  auto run = [&](auto kernel) {
    detail::for_range(
        0, outer, work,
        [&](std::int64_t i) { kernel(draw, i, scratch[omp_get_thread_num()]); },
        Schedule::Dynamic, 64);
  };
  switch (D) {  // compile-time widths for ranks up to 22 (with biases), run-time beyond
    case 4: run(draw_row<4>); break;
    case 8: run(draw_row<8>); break;
    case 12: run(draw_row<12>); break;
    case 16: run(draw_row<16>); break;
    case 20: run(draw_row<20>); break;
    case 24: run(draw_row<24>); break;
    default: run(draw_row<0>); break;
  }
  if (!update_rows) {
    double sse = 0.0;  // summed in index order: independent of the thread count
    for (double e : row_sse) sse += e;
    train_rmse_ = std::sqrt(sse / static_cast<double>(obs_.nnz()));
    train_rmse_valid_ = true;
  }
}

}  // namespace completion
}  // namespace nearlinear

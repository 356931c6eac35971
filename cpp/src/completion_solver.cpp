// Alternating minimisation for matrix completion: exact (ALS) and approximate (RobustAM) row
// solves. See completion.hpp for the model and the algorithms.
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <vector>

#include "completion_internal.hpp"
#include "nearlinear/completion.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear {
namespace completion {

namespace {

// Vectors of one PCG solve, kept across rows so that no row allocates.
struct PcgWork {
  Vector<double> w, r, z, p, q;
};

// Per-thread scratch for one row: the gathered design A (#n_i by #d), targets y, ridge.
struct Scratch {
  std::vector<double> A, y;
  Vector<double> lambda, rhs;
  RowMatrix<double> gram;
  Eigen::LLT<RowMatrix<double>> llt;
  PcgWork pcg;
};

// z = P^-1 r for the explicit inverse `inverse` of the preconditioner (identity when empty):
// one d by d matrix-vector product, which vectorises, where two triangular solves with the
// Cholesky factor are sequential in d.
void apply_preconditioner(const RowMatrix<double>& inverse, const Vector<double>& r,
                          Vector<double>& z) {
  if (inverse.size() == 0) {
    z = r;
    return;
  }
  z.noalias() = inverse * r;
}

// (L L^T)^-1 from the lower Cholesky factor L (empty stays empty). O(d^3).
RowMatrix<double> inverse_from_factor(const RowMatrix<double>& L) {
  if (L.size() == 0) return L;
  RowMatrix<double> inverse = RowMatrix<double>::Identity(L.rows(), L.cols());
  L.triangularView<Eigen::Lower>().solveInPlace(inverse);
  L.transpose().triangularView<Eigen::Upper>().solveInPlace(inverse);
  return 0.5 * (inverse + inverse.transpose());  // exactly symmetric, as PCG assumes
}

// PCG on (A^T A + diag(lambda)) x = A^T y from x; `precond` is the preconditioner's explicit
// inverse (empty: none).
int pcg(const ConstRowMatrixRef<double>& A, const double* y, const double* lambda_in,
        const RowMatrix<double>& precond, double tol, int max_iter, double* x_out, PcgWork& ws) {
  const Index d = A.cols();
  Eigen::Map<Vector<double>> x(x_out, d);
  const Eigen::Map<const Vector<double>> lambda(lambda_in, d);
  Vector<double>&w = ws.w, &r = ws.r, &z = ws.z, &p = ws.p, &q = ws.q;
  w = Eigen::Map<const Vector<double>>(y, A.rows());
  w.noalias() -= A * x;
  r = -lambda.cwiseProduct(x);
  r.noalias() += A.transpose() * w;
  const double r0 = r.norm();
  if (!(r0 > 0.0)) return 0;
  const double threshold = tol * r0;
  apply_preconditioner(precond, r, z);
  p = z;
  double rz = r.dot(z);
  int it = 0;
  while (it < max_iter) {
    w.noalias() = A * p;  // q = (A^T A + diag(lambda)) p
    q = lambda.cwiseProduct(p);
    q.noalias() += A.transpose() * w;
    const double pq = p.dot(q);
    if (!(pq > 0.0)) break;  // p in the null space of a singular system: x is final
    const double alpha = rz / pq;
    x.noalias() += alpha * p;
    r.noalias() -= alpha * q;
    ++it;
    if (r.norm() <= threshold) break;
    apply_preconditioner(precond, r, z);
    const double rz_next = r.dot(z);
    p = z + (rz_next / rz) * p;
    rz = rz_next;
  }
  return it;
}

}  // namespace

namespace detail {

// Factor G (symmetric positive semi-definite) into llt; a relative jitter of 1e-12 trace(G)/d
// is added when G is numerically singular (rows with fewer observations than unknowns and
// reg = 0).
void factor(RowMatrix<double>& G, Eigen::LLT<RowMatrix<double>>& llt) {
  llt.compute(G);
  if (llt.info() != Eigen::Success) {
    const double jitter = 1e-12 * std::max(G.trace() / G.rows(), 1e-300);
    G.diagonal().array() += jitter;
    llt.compute(G);
  }
}

// G = A^T A + diag(lambda), full symmetric. For small d (where a blocked rank update's setup
// outweighs its arithmetic) the lower triangle is d (d + 1) / 2 dot products of contiguous
// columns of A; by the blocked rank update otherwise.
void gram(const Eigen::Map<RowMatrix<double>>& A, const Vector<double>& lambda,
          RowMatrix<double>& G) {
  const Index d = A.cols();
  G.setZero(d, d);
  G.diagonal() = lambda;
  if (d <= 24) {
    // Columns of A made contiguous, then one vectorised dot product per entry.
    const ColMatrix<double> C = A;
    for (Index r = 0; r < d; ++r)
      for (Index c = 0; c <= r; ++c) G(r, c) += C.col(r).dot(C.col(c));
  } else {
    G.selfadjointView<Eigen::Lower>().rankUpdate(A.transpose());
  }
  G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
}

}  // namespace detail

int pcg_row_solve(const ConstRowMatrixRef<double>& A, const double* y, const double* lambda,
                  const RowMatrix<double>& precond, double tol, int max_iter, double* x) {
  PcgWork ws;
  return pcg(A, y, lambda, inverse_from_factor(precond), tol, max_iter, x, ws);
}

Solver::Solver(Observations obs, const Options& options) : obs_(std::move(obs)), opt_(options) {
  const Index limit = std::min(obs_.rows, obs_.cols);
  NL_CHECK(opt_.rank >= 1 && opt_.rank <= limit,
           "rank must be in [1, min(shape)] = [1, " << limit << "]; got " << opt_.rank);
  NL_CHECK(std::isfinite(opt_.reg) && opt_.reg >= 0.0,
           "reg must be finite and >= 0; got " << opt_.reg);
  NL_CHECK(std::isfinite(opt_.bias_reg) && opt_.bias_reg >= 0.0,
           "bias_reg must be finite and >= 0; got " << opt_.bias_reg);
  NL_CHECK(opt_.inner_tol > 0.0 && opt_.inner_tol < 1.0,
           "inner_tol must be in (0, 1); got " << opt_.inner_tol);
  NL_CHECK(opt_.max_inner >= 1, "max_inner must be >= 1; got " << opt_.max_inner);
  d_ = opt_.rank + (opt_.biases ? 1 : 0);
}

void Solver::initialize() {
  const Index k = opt_.rank;
  mu_ = 0.0;
  if (opt_.biases) {
    // Summed in row order (fixed): the mean does not depend on the thread count.
    for (double v : obs_.row_val) mu_ += v;
    mu_ /= static_cast<double>(obs_.nnz());
  }
  RowMatrix<double> U0, V0;
  detail::spectral_init(obs_, mu_, k, opt_.seed, U0, V0);
  X_ = RowMatrix<double>::Zero(obs_.rows, d_);
  Y_ = RowMatrix<double>::Zero(obs_.cols, d_);
  X_.leftCols(k) = U0;
  Y_.leftCols(k) = V0;
  train_rmse_valid_ = false;
}

void Solver::sweep() {
  NL_CHECK(X_.rows() == obs_.rows, "initialize() must be called before sweep()");
  train_rmse_valid_ = false;
  inner_iterations_ = 0;
  half_step(true);
  half_step(false);
}

void Solver::half_step(bool update_rows) {
  const Index k = opt_.rank, d = d_;
  const bool biases = opt_.biases;
  RowMatrix<double>& T = update_rows ? X_ : Y_;
  const RowMatrix<double>& F = update_rows ? Y_ : X_;
  const auto& ptr = update_rows ? obs_.row_ptr : obs_.col_ptr;
  const auto& idx = update_rows ? obs_.row_idx : obs_.col_idx;
  const auto& val = update_rows ? obs_.row_val : obs_.col_val;
  const auto& other_ptr = update_rows ? obs_.col_ptr : obs_.row_ptr;
  const Index outer = T.rows(), other = F.rows();
  const bool robust = opt_.method == Method::RobustAM;
  // Ridge per observation of each unknown: reg on the factor, bias_reg on the bias.
  Vector<double> ridge = Vector<double>::Constant(d, opt_.reg);
  if (biases) ridge[k] = opt_.bias_reg;

  // The design row of the fixed side: a_j = [f_j, 1] with biases, f_j without.
  auto design_row = [&](Index j, double* out) {
    for (Index c = 0; c < k; ++c) out[c] = F(j, c);
    if (biases) out[k] = 1.0;
  };

  RowMatrix<double> precond;  // the explicit inverse of P (robust only)
  if (robust) {
    // P = (1/|Omega|) sum_j count_j a_j a_j^T + diag(ridge), reduced over fixed chunks of F
    // in chunk order (independent of the thread count).
    constexpr Index kChunk = 4096;
    const Index chunks = (other + kChunk - 1) / kChunk;
    std::vector<RowMatrix<double>> partial(chunks);
    detail::for_range(0, chunks, static_cast<double>(other) * d * d, [&](std::int64_t c) {
      const Index b = c * kChunk, e = std::min(other, b + kChunk);
      RowMatrix<double> block(e - b, d);
      for (Index j = b; j < e; ++j) {
        design_row(j, block.row(j - b).data());
        block.row(j - b) *= std::sqrt(static_cast<double>(other_ptr[j + 1] - other_ptr[j]));
      }
      partial[c] = RowMatrix<double>::Zero(d, d);
      partial[c].selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
    });
    RowMatrix<double> P = RowMatrix<double>::Zero(d, d);
    for (const auto& g : partial) P += g;
    P = P.selfadjointView<Eigen::Lower>();
    P /= static_cast<double>(obs_.nnz());
    P.diagonal() += ridge;
    Eigen::LLT<RowMatrix<double>> llt;
    detail::factor(P, llt);
    precond = inverse_from_factor(llt.matrixL());
  }

  std::int64_t max_count = 0;
  for (Index i = 0; i < outer; ++i) max_count = std::max(max_count, ptr[i + 1] - ptr[i]);
  const int threads = get_num_threads();
  std::vector<Scratch> scratch(threads);
  for (auto& s : scratch) {
    s.A.resize(static_cast<std::size_t>(max_count) * d);
    s.y.resize(max_count);
  }
  std::vector<std::int64_t> inner(threads, 0);

  const double work = static_cast<double>(obs_.nnz()) * static_cast<double>(d) *
                      (robust ? 12.0 : static_cast<double>(d));
  detail::for_range(
      0, outer, work,
      [&](std::int64_t i) {
        const std::int64_t b = ptr[i], n_i = ptr[i + 1] - ptr[i];
        if (n_i == 0) {  // cold start: no information, predict mu + the other side's bias
          T.row(i).setZero();
          return;
        }
        Scratch& s = scratch[omp_get_thread_num()];
        Eigen::Map<RowMatrix<double>> A(s.A.data(), n_i, d);
        for (std::int64_t t = 0; t < n_i; ++t) {
          const Index j = idx[b + t];
          design_row(j, A.row(t).data());
          s.y[t] = biases ? val[b + t] - mu_ - F(j, k) : val[b + t];
        }
        s.lambda = static_cast<double>(n_i) * ridge;
        if (robust) {
          inner[omp_get_thread_num()] += pcg(A, s.y.data(), s.lambda.data(), precond,
                                             opt_.inner_tol, opt_.max_inner, T.row(i).data(),
                                             s.pcg);
        } else {
          detail::gram(A, s.lambda, s.gram);
          s.rhs.noalias() = A.transpose() * Eigen::Map<const Vector<double>>(s.y.data(), n_i);
          detail::factor(s.gram, s.llt);
          s.llt.solveInPlace(s.rhs);
          T.row(i) = s.rhs.transpose();
        }
      },
      Schedule::Dynamic, 64);
  for (auto c : inner) inner_iterations_ += c;
}

double Solver::train_rmse() const {
  if (train_rmse_valid_) return train_rmse_;
  const Index k = opt_.rank;
  Vector<double> row_sse(obs_.rows);
  detail::for_range(
      0, obs_.rows, 2.0 * static_cast<double>(obs_.nnz()) * static_cast<double>(k),
      [&](std::int64_t i) {
        double sse = 0.0;
        for (std::int64_t p = obs_.row_ptr[i]; p < obs_.row_ptr[i + 1]; ++p) {
          const Index j = obs_.row_idx[p];
          double pred = X_.row(i).head(k).dot(Y_.row(j).head(k));
          if (opt_.biases) pred += mu_ + X_(i, k) + Y_(j, k);
          const double e = obs_.row_val[p] - pred;
          sse += e * e;
        }
        row_sse[i] = sse;
      },
      Schedule::Dynamic, 256);
  train_rmse_ = std::sqrt(row_sse.sum() / static_cast<double>(obs_.nnz()));
  train_rmse_valid_ = true;
  return train_rmse_;
}

double Solver::objective() const {
  const double rmse = train_rmse();
  const Index k = opt_.rank;
  double factors = 0.0, biases = 0.0;  // summed in index order: independent of threads
  auto add = [&](const RowMatrix<double>& F, const std::vector<std::int64_t>& ptr) {
    for (Index i = 0; i < F.rows(); ++i) {
      const double n_i = static_cast<double>(ptr[i + 1] - ptr[i]);
      factors += n_i * F.row(i).head(k).squaredNorm();
      if (opt_.biases) biases += n_i * F(i, k) * F(i, k);
    }
  };
  add(X_, obs_.row_ptr);
  add(Y_, obs_.col_ptr);
  return rmse * rmse + (opt_.reg * factors + opt_.bias_reg * biases) / static_cast<double>(obs_.nnz());
}

RowMatrix<double> Solver::U() const { return X_.leftCols(opt_.rank); }
RowMatrix<double> Solver::V() const { return Y_.leftCols(opt_.rank); }
Vector<double> Solver::row_bias() const {
  return opt_.biases ? Vector<double>(X_.col(opt_.rank)) : Vector<double>::Zero(obs_.rows);
}
Vector<double> Solver::col_bias() const {
  return opt_.biases ? Vector<double>(Y_.col(opt_.rank)) : Vector<double>::Zero(obs_.cols);
}

Vector<double> predict(const ConstRowMatrixRef<double>& U, const ConstRowMatrixRef<double>& V,
                       const ConstVectorRef<double>& row_bias,
                       const ConstVectorRef<double>& col_bias, double mean,
                       const std::int64_t* rows, const std::int64_t* cols, Index q) {
  const Index m = U.rows(), n = V.rows();
  NL_CHECK(U.cols() == V.cols(), "U and V must have the same number of columns; got "
                                     << U.cols() << " and " << V.cols());
  NL_CHECK(row_bias.size() == m && col_bias.size() == n,
           "biases must have lengths " << m << " and " << n << "; got " << row_bias.size()
                                       << " and " << col_bias.size());
  for (Index t = 0; t < q; ++t) {
    NL_CHECK(rows[t] >= 0 && rows[t] < m,
             "rows[" << t << "] = " << rows[t] << " is outside [0, " << m << ")");
    NL_CHECK(cols[t] >= 0 && cols[t] < n,
             "cols[" << t << "] = " << cols[t] << " is outside [0, " << n << ")");
  }
  Vector<double> out(q);
  detail::for_range(0, q, 2.0 * static_cast<double>(q) * static_cast<double>(U.cols()),
                    [&](std::int64_t t) {
    out[t] = mean + row_bias[rows[t]] + col_bias[cols[t]] + U.row(rows[t]).dot(V.row(cols[t]));
  });
  return out;
}

}  // namespace completion
}  // namespace nearlinear

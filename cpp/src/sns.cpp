// Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024, Alg. 1), on the semi-dual in g: after an
// exact row update f = f(g) the gradient of F(g) = <a, f(g)> + <b, g> is b - P^T 1 and its
// negated Hessian is (diag(P^T 1) - P^T diag(1/a) P) / reg (the Schur complement of the full
// dual Hessian [[diag(a), P], [P^T, diag(c)]] / reg, Sec. 3 of the paper).
#include "nearlinear/sns.hpp"

#include "nearlinear/interrupt.hpp"
#include "nearlinear/memory.hpp"
#include "sinkhorn_log_loop.hpp"

namespace nearlinear {
namespace {

/// The kept entries of the plan, in CSR (rows) and CSC (columns) form.
struct SparsePlan {
  std::vector<std::int64_t> row_ptr, col_idx, col_ptr, row_idx;
  std::vector<double> row_val, col_val;
};

SparsePlan sparsify(const RowMatrix<double>& P, double keep_ratio) {
  const Index n = P.rows(), m = P.cols();
  SparsePlan S;
  S.row_ptr.assign(n + 1, 0);
  Eigen::VectorXd threshold(n);
  parallel_for(0, n, [&](std::int64_t i) {
    threshold[i] = keep_ratio * P.row(i).maxCoeff();
    S.row_ptr[i + 1] = (P.row(i).array() >= threshold[i]).count();
  });
  for (Index i = 0; i < n; ++i) S.row_ptr[i + 1] += S.row_ptr[i];
  const std::int64_t nnz = S.row_ptr[n];
  S.col_idx.resize(nnz);
  S.row_val.resize(nnz);
  parallel_for(0, n, [&](std::int64_t i) {
    std::int64_t k = S.row_ptr[i];
    for (Index j = 0; j < m; ++j)
      if (P(i, j) >= threshold[i]) { S.col_idx[k] = j; S.row_val[k++] = P(i, j); }
  });
  // Transpose by counting sort (rows stay sorted within each column).
  S.col_ptr.assign(m + 1, 0);
  for (std::int64_t k = 0; k < nnz; ++k) ++S.col_ptr[S.col_idx[k] + 1];
  for (Index j = 0; j < m; ++j) S.col_ptr[j + 1] += S.col_ptr[j];
  S.row_idx.resize(nnz);
  S.col_val.resize(nnz);
  std::vector<std::int64_t> next(S.col_ptr.begin(), S.col_ptr.end() - 1);
  for (Index i = 0; i < n; ++i)
    for (std::int64_t k = S.row_ptr[i]; k < S.row_ptr[i + 1]; ++k) {
      const std::int64_t pos = next[S.col_idx[k]]++;
      S.row_idx[pos] = i;
      S.col_val[pos] = S.row_val[k];
    }
  return S;
}

/// Solve (diag(c) - S^T diag(1/a) S) d = rhs by Jacobi-preconditioned conjugate gradients
/// to relative residual `rel_tol`; rhs is orthogonal to the null direction 1 of the full
/// Hessian, and d is returned with its mean removed. A column with c_j = 0 (a weight b_j
/// below what the kernel stores, see ot_detail::kernel_floor) has a zero row and column in
/// the Hessian: it is left out of the system (d_j = 0 before the mean is removed) instead of
/// receiving rhs_j / 0.
Eigen::VectorXd newton_direction(const SparsePlan& S, const Eigen::VectorXd& a, const Eigen::VectorXd& c,
                                 const Eigen::VectorXd& rhs, double rel_tol, int max_iter) {
  const Index n = a.size(), m = c.size();
  Eigen::VectorXd inv_diag(m);
  parallel_for(0, m, [&](std::int64_t j) {
    double s = 0;
    for (std::int64_t k = S.col_ptr[j]; k < S.col_ptr[j + 1]; ++k) s += S.col_val[k] * S.col_val[k] / a[S.row_idx[k]];
    inv_diag[j] = c[j] > 0 ? 1.0 / std::max(c[j] - s, 1e-300) : 0.0;
  });
  Eigen::VectorXd t(n);
  // A product costs ~nnz flops: below a million a parallel region's barrier (and, on a busy
  // machine, waiting for a descheduled thread) costs more than it saves.
  const bool parallel = static_cast<std::int64_t>(S.row_val.size()) >= (1 << 20);
  auto loop = [parallel](std::int64_t count, auto&& body) {
    if (parallel) parallel_for(0, count, body);
    else for (std::int64_t i = 0; i < count; ++i) body(i);
  };
  auto hess = [&](const Eigen::VectorXd& x, Eigen::VectorXd& y) {
    loop(n, [&](std::int64_t i) {
      double s = 0;
      for (std::int64_t k = S.row_ptr[i]; k < S.row_ptr[i + 1]; ++k) s += S.row_val[k] * x[S.col_idx[k]];
      t[i] = s / a[i];
    });
    loop(m, [&](std::int64_t j) {
      double s = 0;
      for (std::int64_t k = S.col_ptr[j]; k < S.col_ptr[j + 1]; ++k) s += S.col_val[k] * t[S.row_idx[k]];
      y[j] = c[j] * x[j] - s;
    });
  };
  Eigen::VectorXd x = Eigen::VectorXd::Zero(m), r = (inv_diag.array() > 0).select(rhs, 0.0), hp(m);
  Eigen::VectorXd z = r.cwiseProduct(inv_diag), p = z;
  double rz = r.dot(z);
  const double stop = rel_tol * r.norm();
  for (int k = 0; k < max_iter && r.norm() > stop; ++k) {
    check_interrupt();
    hess(p, hp);
    const double php = p.dot(hp);
    if (!(php > 0)) break;
    const double alpha = rz / php;
    x += alpha * p;
    r -= alpha * hp;
    z = r.cwiseProduct(inv_diag);
    const double rz_next = r.dot(z);
    p = z + (rz_next / rz) * p;
    rz = rz_next;
  }
  x.array() -= x.mean();
  return x;
}

}  // namespace

template <typename T>
SinkhornResult<T> sinkhorn_newton_sparse(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                                         const Eigen::VectorXd& b, double reg,
                                         const Eigen::VectorXd& f0, const Eigen::VectorXd& g0,
                                         const SinkhornOptions& options) {
  ot_detail::check_problem<T>(M, a, b, reg, options);
  NL_CHECK(options.sns_keep_ratio >= 0 && options.sns_keep_ratio < 1,
           "keep_ratio must be in [0, 1); got " << options.sns_keep_ratio);
  NL_CHECK(options.sns_warmup_iter >= 0 && options.sns_cg_max_iter >= 1 && options.sns_fallback_iter >= 1,
           "warmup_iter must be >= 0, cg_max_iter and fallback_iter >= 1");
  SinkhornResult<T> result;
  const double mass = a.sum();
  Eigen::VectorXd f = ot_detail::initial_potential(f0, M.rows(), "f0");
  Eigen::VectorXd g = ot_detail::initial_potential(g0, M.cols(), "g0");
  RowMatrix<double> P(M.rows(), M.cols());  // the plan, or the stabilised kernel in Sinkhorn steps
  advise_huge_pages(P);
  // Sinkhorn iterations from (f, g), leaving (f, g) with u, v absorbed.
  auto sinkhorn_steps = [&](int iters, double tol) {
    ot_detail::StabilisedState<double> state{f, g, P};
    state.relax.enabled = options.overrelax;
    int done = 0;
    double err = 0;
    const auto status = ot_detail::stabilised_sinkhorn<T, double>(
        M, a, b, reg, state, iters, tol, options.absorb_log_threshold, done, err, result.err_history,
        result.n_absorb);
    f += reg * state.u.array().log().matrix();
    g += reg * state.v.array().log().matrix();
    result.n_sinkhorn += done;
    result.n_iter += done;
    return status;
  };
  const int warmup = std::min(options.sns_warmup_iter, options.max_iter);
  if (warmup > 0) sinkhorn_steps(warmup, std::max(options.tol, options.sns_warmup_tol * mass));

  Eigen::VectorXd c(M.cols()), f_try(M.rows()), c_try(M.cols());
  auto semi_dual = [&](const Eigen::VectorXd& gg, Eigen::VectorXd& ff, Eigen::VectorXd& cc) {
    return ot_detail::row_lse_update<T, double>(M, a, gg, reg, ff, P, &cc) + b.dot(gg);
  };
  double F = semi_dual(g, f, c);
  double err = (c - b).lpNorm<1>();
  result.err_history.push_back(err);
  int fallback_iter = options.sns_fallback_iter;
  while (err > options.tol && result.n_iter < options.max_iter) {
    check_interrupt();
    const SparsePlan S = sparsify(P, options.sns_keep_ratio);
    const Eigen::VectorXd grad = b - c;
    const double rel_tol = std::max(1e-10, std::min(0.1, std::sqrt(err / mass)));
    const Eigen::VectorXd d = newton_direction(S, a, c, reg * grad, rel_tol, options.sns_cg_max_iter);
    const double slope = grad.dot(d);
    bool accepted = false;
    if (slope > 0 && d.allFinite()) {
      // F is a sum of O(1) terms: allow its rounding error in the sufficient-increase test.
      const double slack = 1e-14 * (std::abs(a.dot(f)) + std::abs(b.dot(g)) + mass);
      for (double step = 1.0; step > 1e-3 && !accepted; step *= 0.5) {
        const Eigen::VectorXd g_try = g + step * d;
        const double F_try = semi_dual(g_try, f_try, c_try);
        const double err_try = (c_try - b).lpNorm<1>();
        if (std::isfinite(F_try) && std::isfinite(err_try) && F_try >= F + 1e-4 * step * slope - slack) {
          g = g_try;
          f = f_try;
          c = c_try;
          F = F_try;
          err = err_try;
          accepted = true;
        }
      }
    }
    if (accepted) {
      fallback_iter = options.sns_fallback_iter;
      ++result.n_newton;
      ++result.n_iter;
      result.err_history.push_back(err);
      continue;
    }
    // Safeguard: the Newton step did not increase F; take Sinkhorn steps instead, twice as
    // many after each consecutive failure (far from the optimum at tiny reg the quadratic
    // model is poor and Newton attempts would cost more than they bring).
    const int left = options.max_iter - result.n_iter;
    if (left <= 0) {
      F = semi_dual(g, f, c);  // P back to the current g (the last trial overwrote it)
      err = (c - b).lpNorm<1>();
      break;
    }
    sinkhorn_steps(std::min(fallback_iter, left), options.tol);
    fallback_iter = static_cast<int>(std::min<long>(2L * fallback_iter, 1L << 20));
    F = semi_dual(g, f, c);
    err = (c - b).lpNorm<1>();
    result.err_history.push_back(err);
  }
  result.err = err;
  result.converged = err <= options.tol;
  if constexpr (std::is_same<T, double>::value) result.plan = std::move(P);
  else result.plan = P.template cast<T>();
  result.f = f;
  result.g = g;
  return result;
}

template SinkhornResult<float> sinkhorn_newton_sparse<float>(const ConstRowMatrixRef<float>&, const Eigen::VectorXd&,
                                                             const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                             const Eigen::VectorXd&, const SinkhornOptions&);
template SinkhornResult<double> sinkhorn_newton_sparse<double>(const ConstRowMatrixRef<double>&, const Eigen::VectorXd&,
                                                               const Eigen::VectorXd&, double, const Eigen::VectorXd&,
                                                               const Eigen::VectorXd&, const SinkhornOptions&);

}  // namespace nearlinear

// Private building blocks of the matrix Sinkhorn solvers (sinkhorn.cpp, sinkhorn_log.cpp,
// sns.cpp): input checks, exact log-sum-exp updates and the fused scaling loop.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "nearlinear/common.hpp"
#include "nearlinear/interrupt.hpp"
#include "nearlinear/ot_result.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear::ot_detail {

using ArrayXd = Eigen::ArrayXd;

/// Checks shared by every matrix solver; throws std::invalid_argument naming the argument.
template <typename T>
void check_problem(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a,
                   const Eigen::VectorXd& b, double reg, const SinkhornOptions& options) {
  NL_CHECK(M.rows() > 0 && M.cols() > 0, "M must not be empty; got " << M.rows() << " by " << M.cols());
  NL_CHECK(a.size() == M.rows(), "a must have length M.shape[0] = " << M.rows() << "; got " << a.size());
  NL_CHECK(b.size() == M.cols(), "b must have length M.shape[1] = " << M.cols() << "; got " << b.size());
  NL_CHECK(std::isfinite(reg) && reg > 0, "reg must be a positive finite number; got " << reg);
  NL_CHECK(options.max_iter >= 1, "max_iter must be >= 1; got " << options.max_iter);
  NL_CHECK(std::isfinite(options.tol) && options.tol >= 0, "tol must be >= 0; got " << options.tol);
  NL_CHECK(a.allFinite() && (a.array() > 0).all(), "a must hold positive finite weights");
  NL_CHECK(b.allFinite() && (b.array() > 0).all(), "b must hold positive finite weights");
  const double sa = a.sum(), sb = b.sum();
  NL_CHECK(std::abs(sa - sb) <= 1e-6 * std::max(sa, sb),
           "a and b must have the same total mass; got sum(a) = " << sa << ", sum(b) = " << sb);
  bool bad = false;
  for (Index i = 0; i < M.rows() && !bad; ++i)
    bad = !(M.row(i).array().isFinite().all() && (M.row(i).array() >= T(0)).all());
  NL_CHECK(!bad, "M must hold finite, non-negative costs");
}

/// Initial potential: `init` when given (length checked), else zeros.
inline Eigen::VectorXd initial_potential(const Eigen::VectorXd& init, Index size, const char* name) {
  if (init.size() == 0) return Eigen::VectorXd::Zero(size);
  NL_CHECK(init.size() == size, name << " must have length " << size << "; got " << init.size());
  NL_CHECK(init.allFinite(), name << " must be finite");
  return init;
}

/// Contiguous row ranges, one per thread, so that per-thread partial sums combine in a
/// fixed order (deterministic for a given thread count).
inline Index thread_parts(Index n) { return std::max<Index>(1, std::min<Index>(get_num_threads(), n)); }

template <typename Body>
void for_thread_rows(Index n, Body&& body) {
  const Index parts = thread_parts(n);
  parallel_for(0, parts, [&](std::int64_t t) { body(t, n * t / parts, n * (t + 1) / parts); });
}

/// Entries of a stabilised kernel in KT below this are stored as 0: exp(-600) for double,
/// exp(-85) for float, so that neither they nor their products with scalings in exp(+-30)
/// are denormal (slow) numbers. A kernel row whose weight a_i is at most (columns) * floor
/// can therefore be all zeros (likewise a column with b_j <= (rows) * floor): its mass is
/// below what the kernel holds, and scaling_loop leaves its scaling alone.
template <typename KT>
double kernel_floor() {
  return std::exp(std::is_same<KT, float>::value ? -85.0 : -600.0);
}

/// Exact row update in the log domain: given g, set f_i = reg (log a_i - LSE_j((g_j - M_ij)/reg))
/// and write K(i, j) = exp((f_i + g_j - M_ij) / reg), so that every row of K sums to a_i
/// (entries below kernel_floor<KT>() stored as 0). Optionally accumulates the column sums
/// of K into `colsum` and returns <a, f>.
template <typename T, typename KT>
double row_lse_update(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& a, const Eigen::VectorXd& g,
                      double reg, Eigen::VectorXd& f, RowMatrix<KT>& K, Eigen::VectorXd* colsum) {
  const Index n = M.rows(), m = M.cols();
  const double floor = kernel_floor<KT>();
  const Index parts = thread_parts(n);
  std::vector<ArrayXd> partial(colsum ? parts : 0);
  std::vector<double> af(parts, 0.0);
  for_thread_rows(n, [&](Index t, Index i0, Index i1) {
    ArrayXd x(m);
    if (colsum) partial[t] = ArrayXd::Zero(m);
    double acc = 0;
    for (Index i = i0; i < i1; ++i) {
      x = (g.array() - M.row(i).transpose().array().template cast<double>()) * (1.0 / reg);
      const double mx = x.maxCoeff();
      x = (x - mx).exp();
      const double s = x.sum();
      f[i] = reg * (std::log(a[i]) - mx - std::log(s));
      acc += a[i] * f[i];
      x *= a[i] / s;
      x = (x < floor).select(0.0, x);
      K.row(i) = x.transpose().template cast<KT>();
      if (colsum) partial[t] += x;
    }
    af[t] = acc;
  });
  if (colsum) {
    colsum->setZero(m);
    for (auto& p : partial) *colsum += p.matrix();
  }
  double total = 0;
  for (double v : af) total += v;
  return total;
}

/// Exact column update in the log domain: g_j = reg (log b_j - LSE_i((f_i - M_ij)/reg)).
template <typename T>
void col_lse_update(const ConstRowMatrixRef<T>& M, const Eigen::VectorXd& b, const Eigen::VectorXd& f,
                    double reg, Eigen::VectorXd& g) {
  const Index n = M.rows(), m = M.cols();
  constexpr Index block = 256;
  const Index blocks = (m + block - 1) / block;
  parallel_for(0, blocks, [&](std::int64_t k) {
    const Index j0 = k * block, w = std::min(block, m - j0);
    ArrayXd mx = ArrayXd::Constant(w, -std::numeric_limits<double>::infinity());
    for (Index i = 0; i < n; ++i)
      mx = mx.max((f[i] - M.row(i).segment(j0, w).transpose().array().template cast<double>()) * (1.0 / reg));
    ArrayXd s = ArrayXd::Zero(w);
    for (Index i = 0; i < n; ++i)
      s += ((f[i] - M.row(i).segment(j0, w).transpose().array().template cast<double>()) * (1.0 / reg) - mx).exp();
    g.segment(j0, w) = (reg * (b.segment(j0, w).array().log() - mx - s.log())).matrix();
  });
}

enum class LoopStatus { Converged, MaxIter, Absorb, Underflow };

/// Over-relaxed scaling (Thibault, Chizat, Dossal, Papadakis 2021, "Overrelaxed
/// Sinkhorn-Knopp algorithm"; Peyre & Cuturi 2019, Remark 4.15): u <- u^(1-w) (a / K v)^w,
/// same for v, with the same fixed point as Sinkhorn. w starts at 1; once the plain iteration
/// shows a linear rate rho (error ratio per iteration over the last 8), w = 2 / (1 +
/// sqrt(1 - rho)), the successive over-relaxation optimum. Safeguard: if the error then stops
/// improving (30 iterations without a new best, or a 100-fold rise), w returns to 1 and the
/// rate is measured again; after 3 such failures w stays 1.
struct Relaxation {
  bool enabled = false;
  double omega = 1.0;
  std::vector<double> plain;  // errors at w = 1 since the last estimate
  double best = std::numeric_limits<double>::infinity();
  int since_best = 0;
  int failures = 0;

  void observe(double err) {
    if (!enabled) return;
    if (omega == 1.0) {
      plain.push_back(err);
      const std::size_t k = plain.size();
      if (k >= 12 && plain[k - 1] < plain[k - 9]) {
        const double rho = std::pow(plain[k - 1] / plain[k - 9], 1.0 / 8);
        if (rho > 0.3) omega = std::min(1.95, 2.0 / (1.0 + std::sqrt(1.0 - rho)));
        best = err;
        since_best = 0;
        plain.clear();
      }
      return;
    }
    if (err < best) {
      best = err;
      since_best = 0;
    } else if (++since_best >= 30 || err > 100 * best) {
      omega = 1.0;
      enabled = ++failures < 3;
    }
  }
};

/// Sinkhorn scaling on a kernel K with scalings u, v (P = diag(u) K diag(v)), one pass over K
/// per iteration: row i gives (K v)_i, the new u_i (a_i / (K v)_i, over-relaxed when
/// `relax` says so) and the row error |u_i (K v)_i - a_i|, and adds u_i K_i to w = K^T u;
/// the column error sum_j |v_j w_j - b_j| of the plan (u, v) is then free, and v is updated
/// from b / w. Stops when converged, after `max_iter` iterations in total (`iter` counts
/// them), when a scaling leaves exp(+-log_threshold) (Absorb) or on a zero/non-finite product
/// (Underflow). On return (u, v) is the last plan whose error was measured.
/// `floor` is the kernel's storage cutoff (kernel_floor): a zero product (K v)_i of a row
/// with a_i <= m * floor (or (K^T u)_j of a column with b_j <= n * floor) is a mass the
/// kernel cannot hold, not an underflow; that scaling is kept and the mass a_i (b_j) counts
/// in the error. With floor = 0 every zero product is an underflow.
template <typename KT>
LoopStatus scaling_loop(const RowMatrix<KT>& K, const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                        Eigen::VectorXd& u, Eigen::VectorXd& v, int max_iter, double tol,
                        double log_threshold, double floor, int& iter, double& err,
                        std::vector<double>& history, Relaxation& relax) {
  const Index n = K.rows(), m = K.cols();
  const double row_mass_floor = static_cast<double>(m) * floor, col_mass_floor = static_cast<double>(n) * floor;
  const Index parts = thread_parts(n);
  std::vector<Eigen::VectorXd> partial(parts, Eigen::VectorXd(m));
  std::vector<double> row_err(parts);
  Eigen::VectorXd w(m);
  const double hi = std::exp(log_threshold), lo = std::exp(-log_threshold);
  while (true) {
    check_interrupt();
    std::vector<char> bad(parts, 0);
    const double omega = relax.omega;
    for_thread_rows(n, [&](Index t, Index i0, Index i1) {
      Eigen::VectorXd& acc = partial[t];
      acc.setZero();
      double* w_part = acc.data();
      const double* vv = v.data();
      double r_err = 0;
      for (Index i = i0; i < i1; ++i) {
        // Explicit SIMD loops: products in double even for a float kernel (Eigen's mixed
        // cast-and-dot does not vectorise).
        const KT* k = K.data() + i * m;
        double z = 0;
#pragma omp simd reduction(+ : z)
        for (Index j = 0; j < m; ++j) z += static_cast<double>(k[j]) * vv[j];
        double ui = u[i];
        if (z != 0 || a[i] > row_mass_floor) {
          ui = omega == 1.0 ? a[i] / z : std::pow(u[i], 1.0 - omega) * std::pow(a[i] / z, omega);
          if (!(z > 0) || !std::isfinite(ui)) bad[t] = 1;
        }
        u[i] = ui;
        r_err += std::abs(ui * z - a[i]);
#pragma omp simd
        for (Index j = 0; j < m; ++j) w_part[j] += ui * static_cast<double>(k[j]);
      }
      row_err[t] = r_err;
    });
    for (char c : bad) if (c) return LoopStatus::Underflow;
    w = partial[0];
    for (Index t = 1; t < parts; ++t) w += partial[t];
    ++iter;
    err = (v.array() * w.array() - b.array()).abs().sum();
    for (double r : row_err) err += r;
    history.push_back(err);
    if (!std::isfinite(err)) return LoopStatus::Underflow;
    if (err <= tol) return LoopStatus::Converged;
    if (iter >= max_iter) return LoopStatus::MaxIter;
    Eigen::VectorXd v_next(m);
    for (Index j = 0; j < m; ++j) {
      if (w[j] > 0) v_next[j] = b[j] / w[j];
      else if (w[j] == 0 && b[j] <= col_mass_floor) v_next[j] = v[j];
      else return LoopStatus::Underflow;
    }
    if (omega != 1.0) v_next = (v.array().pow(1.0 - omega) * v_next.array().pow(omega)).matrix();
    if (!v_next.allFinite()) return LoopStatus::Underflow;
    v = v_next;
    relax.observe(err);
    if (u.maxCoeff() > hi || u.minCoeff() < lo || v.maxCoeff() > hi || v.minCoeff() < lo)
      return LoopStatus::Absorb;
  }
}

/// The L1 marginal violation |K 1 - a|_1 + |K^T 1 - b|_1 of the plan K (scalings 1).
template <typename KT>
double kernel_marginal_error(const RowMatrix<KT>& K, const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  const Index n = K.rows(), m = K.cols();
  const Index parts = thread_parts(n);
  std::vector<Eigen::VectorXd> colsum(parts);
  std::vector<double> row_err(parts, 0.0);
  for_thread_rows(n, [&](Index t, Index i0, Index i1) {
    colsum[t] = Eigen::VectorXd::Zero(m);
    for (Index i = i0; i < i1; ++i) {
      row_err[t] += std::abs(K.row(i).template cast<double>().sum() - a[i]);
      colsum[t] += K.row(i).transpose().template cast<double>();
    }
  });
  double err = 0;
  for (Index t = 0; t < parts; ++t) err += row_err[t];
  for (Index t = 1; t < parts; ++t) colsum[0] += colsum[t];
  return err + (colsum[0] - b).lpNorm<1>();
}

/// P_ij = u_i K_ij v_j in T, reusing the kernel's storage when it has the type T.
template <typename T, typename KT>
RowMatrix<T> scaled_plan(RowMatrix<KT>&& K, const Eigen::VectorXd& u, const Eigen::VectorXd& v) {
  if constexpr (std::is_same<T, KT>::value) {
    parallel_for(0, K.rows(), [&](std::int64_t i) {
      K.row(i) = (u[i] * K.row(i).template cast<double>().cwiseProduct(v.transpose())).template cast<T>();
    });
    return std::move(K);
  } else {
    RowMatrix<T> P(K.rows(), K.cols());
    parallel_for(0, K.rows(), [&](std::int64_t i) {
      P.row(i) = (u[i] * K.row(i).template cast<double>().cwiseProduct(v.transpose())).template cast<T>();
    });
    return P;
  }
}

}  // namespace nearlinear::ot_detail

// Log-domain Sinkhorn between point clouds, cost computed on the fly in tiles (the
// "online" log-sum-exp of KeOps/GeomLoss-style solvers: Feydy et al., AISTATS 2019), with
// epsilon scaling (Schmitzer 2019, Sec. 3.2).
#include "nearlinear/sinkhorn_points.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "nearlinear/interrupt.hpp"
#include "nearlinear/parallel.hpp"

namespace nearlinear {
namespace {

constexpr Index kRowTile = 8;
constexpr Index kColTile = 512;

template <typename T>
using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;

/// The cost of a tile: dist^p from one point to a chunk of points given by coordinates.
template <typename T>
void tile_cost(const T* point, const RowMatrix<T>& coords, Index j0, Index w, double p, Arr<T>& cost) {
  cost.setZero(w);
  for (Index k = 0; k < coords.rows(); ++k)
    cost += (coords.row(k).segment(j0, w).transpose().array() - point[k]).square();
  if (p == 1.0) cost = cost.sqrt();
  else if (p != 2.0) cost = cost.pow(T(p / 2));
}

/// out_i = reg (log w_i - LSE_j((h_j - C_ij)/reg)) for every row i of X (#n by #d), with
/// the points of the other side given by coordinates (#d by #m). One exp per pair; the
/// running maximum per row is updated once per tile.
template <typename T>
void lse_half(const ConstRowMatrixRef<T>& X, const RowMatrix<T>& coords, const Eigen::VectorXd& h,
              const Eigen::VectorXd& log_w, double reg, double p, Eigen::VectorXd& out) {
  const Index n = X.rows(), m = coords.cols();
  const Arr<T> hs = (h.array() / reg).template cast<T>();
  const T inv_reg = T(1.0 / reg);
  const Index tiles = (n + kRowTile - 1) / kRowTile;
  parallel_for(0, tiles, [&](std::int64_t t) {
    const Index i0 = t * kRowTile, rows = std::min(kRowTile, n - i0);
    double run_max[kRowTile], run_sum[kRowTile];
    std::fill(run_max, run_max + kRowTile, -std::numeric_limits<double>::infinity());
    std::fill(run_sum, run_sum + kRowTile, 0.0);
    Arr<T> cost(kColTile), val(kColTile);
    for (Index j0 = 0; j0 < m; j0 += kColTile) {
      const Index w = std::min(kColTile, m - j0);
      for (Index r = 0; r < rows; ++r) {
        const T* point = X.row(i0 + r).data();
        if (p == 2.0 && coords.rows() == 2) {  // the common case in one fused pass
          val.head(w) = hs.segment(j0, w) - ((coords.row(0).segment(j0, w).transpose().array() - point[0]).square() +
                                             (coords.row(1).segment(j0, w).transpose().array() - point[1]).square()) *
                                                inv_reg;
        } else {
          tile_cost<T>(point, coords, j0, w, p, cost);
          val.head(w) = hs.segment(j0, w) - cost.head(w) * inv_reg;
        }
        const double tile_max = static_cast<double>(val.head(w).maxCoeff());
        if (tile_max > run_max[r]) {
          run_sum[r] *= std::exp(run_max[r] - tile_max);
          run_max[r] = tile_max;
        }
        run_sum[r] += static_cast<double>((val.head(w) - T(run_max[r])).exp().sum());
      }
    }
    for (Index r = 0; r < rows; ++r)
      out[i0 + r] = reg * (log_w[i0 + r] - run_max[r] - std::log(run_sum[r]));
  });
}

/// sum_ij P_ij C_ij, and the plan when asked.
template <typename T>
double transport_cost(const ConstRowMatrixRef<T>& x, const RowMatrix<T>& y_coords, const Eigen::VectorXd& f,
                      const Eigen::VectorXd& g, double reg, double p, RowMatrix<T>* plan) {
  const Index n = x.rows(), m = y_coords.cols();
  std::vector<double> row_cost(n);
  parallel_for(0, n, [&](std::int64_t i) {
    Arr<T> cost(kColTile);
    double acc = 0;
    for (Index j0 = 0; j0 < m; j0 += kColTile) {
      const Index w = std::min(kColTile, m - j0);
      tile_cost<T>(x.row(i).data(), y_coords, j0, w, p, cost);
      const Arr<double> pij = ((g.segment(j0, w).array() + f[i] - cost.head(w).template cast<double>()) / reg).exp();
      acc += (pij * cost.head(w).template cast<double>()).sum();
      if (plan) plan->row(i).segment(j0, w) = pij.transpose().template cast<T>();
    }
    row_cost[i] = acc;
  });
  double total = 0;
  for (double v : row_cost) total += v;
  return total;
}

}  // namespace

template <typename T>
SinkhornPointsResult<T> sinkhorn_points(const ConstRowMatrixRef<T>& x, const ConstRowMatrixRef<T>& y,
                                        const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                        double reg, const SinkhornPointsOptions& options) {
  const Index n = x.rows(), m = y.rows();
  NL_CHECK(n > 0 && m > 0 && x.cols() > 0, "x and y must not be empty");
  NL_CHECK(x.cols() == y.cols(), "x and y must have the same dimension; got " << x.cols() << " and " << y.cols());
  NL_CHECK(a.size() == n, "a must have length x.shape[0] = " << n << "; got " << a.size());
  NL_CHECK(b.size() == m, "b must have length y.shape[0] = " << m << "; got " << b.size());
  NL_CHECK(x.allFinite() && y.allFinite(), "x and y must be finite");
  NL_CHECK(a.allFinite() && (a.array() > 0).all(), "a must hold positive finite weights");
  NL_CHECK(b.allFinite() && (b.array() > 0).all(), "b must hold positive finite weights");
  NL_CHECK(std::abs(a.sum() - b.sum()) <= 1e-6 * std::max(a.sum(), b.sum()),
           "a and b must have the same total mass; got " << a.sum() << " and " << b.sum());
  NL_CHECK(std::isfinite(reg) && reg > 0, "reg must be a positive finite number; got " << reg);
  NL_CHECK(std::isfinite(options.p) && options.p > 0, "p must be positive; got " << options.p);
  NL_CHECK(options.max_iter >= 1, "max_iter must be >= 1; got " << options.max_iter);
  NL_CHECK(options.tol >= 0, "tol must be >= 0; got " << options.tol);
  NL_CHECK(options.eps_scaling == 0 || (options.eps_scaling > 0 && options.eps_scaling < 1),
           "eps_scaling must be 0 (off) or in (0, 1); got " << options.eps_scaling);

  // Every |x_i - y_j| is at most the bounding-box diameter D: the kernel forms squared
  // distances and their p/2-th powers in T, so D^2 and D^p must be finite in T (with room
  // for rounding), or costs are inf (a NaN cost, and epsilon scaling from D^p never ends).
  const Eigen::RowVectorXd lo = x.colwise().minCoeff().template cast<double>().cwiseMin(
                               y.colwise().minCoeff().template cast<double>());
  const Eigen::RowVectorXd hi = x.colwise().maxCoeff().template cast<double>().cwiseMax(
                               y.colwise().maxCoeff().template cast<double>());
  const double diameter_sq = (hi - lo).squaredNorm(), cost_scale = std::pow(diameter_sq, options.p / 2);
  constexpr bool single = std::is_same<T, float>::value;
  const char* dtype = single ? "float32" : "float64";
  const double largest = 0.5 * static_cast<double>(std::numeric_limits<T>::max());
  NL_CHECK(diameter_sq <= largest && cost_scale <= largest,
           "`x` and `y` are too far apart for the cost |x_i - y_j|^p in "
               << dtype << ": their bounding box has diameter "
               << (hi - lo).stableNorm() << ", and diameter^2 = " << diameter_sq << ", diameter^p = " << cost_scale
               << " (p = " << options.p << ") must stay below " << largest
               << "; rescale `x` and `y` (the cost scales by s^p)"
               << (single ? " or pass float64 points" : ""));
  // The exponents (f_i + g_j - |x_i - y_j|^p) / reg cancel terms of up to D^p, formed in T:
  // their rounding, about u D^p / reg (u the unit roundoff of T), must stay below 1, or the
  // potentials and the plan are rounding noise (which could even pass the marginal test:
  // points 1e18 apart with reg = 1e18 returned a plan of total mass 1e5 marked converged).
  const double rounding = 0.5 * static_cast<double>(std::numeric_limits<T>::epsilon()) * cost_scale;
  NL_CHECK(reg >= rounding,
           "`reg` = " << reg << " is below the rounding error of the costs |x_i - y_j|^p in "
               << dtype << ": they reach diameter^p = " << cost_scale << " (p = " << options.p
               << "), rounded to about " << rounding
               << ", and with reg below that the potentials and plan would be rounding noise; use reg >= "
               << rounding << " (the ratio reg / diameter^p is what matters, not the units)"
               << (single ? ", or pass float64 points" : ""));

  const RowMatrix<T> x_coords = x.transpose(), y_coords = y.transpose();
  const Eigen::VectorXd log_a = a.array().log().matrix(), log_b = b.array().log().matrix();
  SinkhornPointsResult<T> result;
  Eigen::VectorXd f = Eigen::VectorXd::Zero(n), g = Eigen::VectorXd::Zero(m), g_next(m);

  if (options.eps_scaling > 0) {
    // Start at the cost scale (bounding-box diameter^p, finite as checked) and shrink
    // geometrically. A factor near 1 would take a pass per stage for millions of stages:
    // more stages than max_iter are refused.
    const double stages = std::ceil(std::log(cost_scale / reg) / -std::log(options.eps_scaling));
    NL_CHECK(!(stages > options.max_iter),
             "`eps_scaling` = " << options.eps_scaling << " would take " << stages
                 << " stages from diameter^p = " << cost_scale << " down to reg = " << reg
                 << ", more than max_iter = " << options.max_iter
                 << "; use a smaller eps_scaling (the default is 0.5), or 0 to disable it");
    for (double stage = cost_scale; stage > reg; stage *= options.eps_scaling) {
      check_interrupt();
      lse_half<T>(x, y_coords, g, log_a, stage, options.p, f);
      lse_half<T>(y, x_coords, f, log_b, stage, options.p, g);
      ++result.n_eps_steps;
    }
  }
  while (true) {
    check_interrupt();
    lse_half<T>(x, y_coords, g, log_a, reg, options.p, f);
    lse_half<T>(y, x_coords, f, log_b, reg, options.p, g_next);
    ++result.n_iter;
    // Rows are exact after the f update; the column sums of the plan (f, g) are
    // b_j exp((g_j - g_next_j)/reg).
    result.err = (b.array() * ((g.array() - g_next.array()) / reg).exp() - b.array()).abs().sum();
    result.err_history.push_back(result.err);
    if (!std::isfinite(result.err)) NL_CHECK(false, "sinkhorn_points: non-finite marginal error (reg too small for the dtype?)");
    if (result.err <= options.tol || result.n_iter >= options.max_iter) break;
    g.swap(g_next);
  }
  result.converged = result.err <= options.tol;
  result.f = f;
  result.g = g;
  if (options.plan) result.plan.resize(n, m);
  result.cost = transport_cost<T>(x, y_coords, f, g, reg, options.p, options.plan ? &result.plan : nullptr);
  return result;
}

template SinkhornPointsResult<float> sinkhorn_points<float>(const ConstRowMatrixRef<float>&, const ConstRowMatrixRef<float>&,
                                                            const Eigen::VectorXd&, const Eigen::VectorXd&, double,
                                                            const SinkhornPointsOptions&);
template SinkhornPointsResult<double> sinkhorn_points<double>(const ConstRowMatrixRef<double>&, const ConstRowMatrixRef<double>&,
                                                              const Eigen::VectorXd&, const Eigen::VectorXd&, double,
                                                              const SinkhornPointsOptions&);

}  // namespace nearlinear

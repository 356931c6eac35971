#include "lstsq_factor.hpp"

#include <cmath>
#include <limits>

#include "nearlinear/random.hpp"

namespace nearlinear::lstsq_detail {
namespace {

// Power iteration on R^T R and on (R^T R)^-1 from a fixed random start: estimates of
// sigma_max(R) (from below) and sigma_min(R) (from above). 30 steps cost O(d^2) each.
void estimate_extreme_singular_values(const ColMatrix<double>& R, double& smax, double& smin) {
  const Index d = R.cols();
  Vector<double> v(d), w(d);
  rng::Stream stream(0x5eed, 7);
  for (Index i = 0; i < d; ++i) v[i] = stream.normal();
  v.normalize();
  smax = 0.0;
  for (int it = 0; it < 30; ++it) {
    w.noalias() = R.triangularView<Eigen::Upper>() * v;
    smax = std::max(smax, w.norm());
    v.noalias() = R.triangularView<Eigen::Upper>().transpose() * w;
    const double nv = v.norm();
    if (!(nv > 0) || !std::isfinite(nv)) break;
    v /= nv;
  }
  for (Index i = 0; i < d; ++i) v[i] = stream.normal();
  v.normalize();
  double inv_norm = 0.0;
  for (int it = 0; it < 30; ++it) {
    w = R.triangularView<Eigen::Upper>().transpose().solve(v);
    v = R.triangularView<Eigen::Upper>().solve(w);
    inv_norm = std::max(inv_norm, std::sqrt(v.norm()));  // ||R^-1 R^-T v|| ~ sigma_min^-2
    const double nv = v.norm();
    if (!(nv > 0) || !std::isfinite(nv)) {
      inv_norm = std::numeric_limits<double>::infinity();
      break;
    }
    v /= nv;
  }
  smin = inv_norm > 0 ? 1.0 / inv_norm : 0.0;
}

}  // namespace

double condition_estimate(const ColMatrix<double>& R) {
  double smax = 0.0, smin = 0.0;
  estimate_extreme_singular_values(R, smax, smin);
  return smin > 0 ? smax / smin : std::numeric_limits<double>::infinity();
}

TriangularFactor::TriangularFactor(ColMatrix<double> R, double rcond, bool decompose)
    : R_(std::move(R)) {
  const Index d = R_.cols();
  R_.triangularView<Eigen::StrictlyLower>().setZero();
  double smax = 0.0, smin = 0.0;
  estimate_extreme_singular_values(R_, smax, smin);
  // The estimate of sigma_min is an upper bound that may be loose by a small factor; switch
  // to the SVD well before the cut-off so that no near-cut-off direction slips through.
  const bool near_deficient = !(smin > 1e3 * rcond * smax) || !std::isfinite(smin);
  if (!near_deficient) {
    rank_ = d;
    sigma_max_ = smax;
    sigma_min_ = smin;
    return;
  }
  svd_ = true;
  if (!decompose) return;
  Eigen::BDCSVD<ColMatrix<double>> svd(R_, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Vector<double>& s = svd.singularValues();
  sigma_max_ = d > 0 ? s[0] : 0.0;
  rank_ = 0;
  while (rank_ < d && s[rank_] > rcond * sigma_max_ && s[rank_] > 0) ++rank_;
  sigma_min_ = rank_ > 0 ? s[rank_ - 1] : 0.0;
  U_r_ = svd.matrixU().leftCols(rank_);
  V_scaled_ = svd.matrixV().leftCols(rank_) *
              s.head(rank_).cwiseInverse().asDiagonal();
}

RowMatrix<double> TriangularFactor::apply(const RowMatrix<double>& y) const {
  if (svd_) return V_scaled_ * y;
  return R_.triangularView<Eigen::Upper>().solve(y);
}

RowMatrix<double> TriangularFactor::apply_transpose(const RowMatrix<double>& g) const {
  if (svd_) return V_scaled_.transpose() * g;
  return R_.triangularView<Eigen::Upper>().transpose().solve(g);
}

RowMatrix<double> TriangularFactor::solve(const RowMatrix<double>& c) const {
  if (svd_) return V_scaled_ * (U_r_.transpose() * c);
  return R_.triangularView<Eigen::Upper>().solve(c);
}

DiagonalFactor::DiagonalFactor(const Vector<double>& squared_norms, double anorm)
    : scale_(squared_norms.size()), anorm_(anorm) {
  for (Index j = 0; j < scale_.size(); ++j)
    scale_[j] = squared_norms[j] > 0 ? 1.0 / std::sqrt(squared_norms[j]) : 0.0;
}

}  // namespace nearlinear::lstsq_detail

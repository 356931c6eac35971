// The triangular factor R of S A (or of A) as a solver and a preconditioner (private).
//
// Full rank: N = R^-1. Numerically rank-deficient (sigma_min(R) near rcond * sigma_max(R)):
// R = U Sigma V^T and N = V_r Sigma_r^-1 over the r singular values above rcond * sigma_max,
// so x = N y lies in the row space of R, that is of A, and the least-squares solution over
// it is the minimum-norm one (the argument of LSRN, Meng, Saunders, Mahoney 2014, Sec. 3).
#pragma once

#include <Eigen/Dense>

#include "nearlinear/common.hpp"

namespace nearlinear::lstsq_detail {

class TriangularFactor {
 public:
  /// R: #d by #d upper triangular. rcond: relative cut-off for singular values.
  TriangularFactor(ColMatrix<double> R, double rcond);

  Index dim() const { return R_.cols(); }
  Index rank() const { return rank_; }
  bool uses_svd() const { return svd_; }
  double sigma_max() const { return sigma_max_; }
  /// Smallest singular value kept (an estimate when the factor is triangular).
  double sigma_min() const { return sigma_min_; }

  /// x = N y (y: #rank by #k, x: #d by #k).
  RowMatrix<double> apply(const RowMatrix<double>& y) const;
  /// N^T g (g: #d by #k).
  RowMatrix<double> apply_transpose(const RowMatrix<double>& g) const;
  /// The least-squares solution from c = (Q^T b)[:d]: R x = c, minimum-norm within rank.
  RowMatrix<double> solve(const RowMatrix<double>& c) const;

 private:
  ColMatrix<double> R_;
  bool svd_ = false;
  Index rank_ = 0;
  double sigma_max_ = 0.0, sigma_min_ = 0.0;
  ColMatrix<double> U_r_;       // #d by #rank (SVD case)
  ColMatrix<double> V_scaled_;  // V_r Sigma_r^-1, #d by #rank (SVD case)
};

}  // namespace nearlinear::lstsq_detail

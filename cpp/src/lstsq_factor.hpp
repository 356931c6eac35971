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
  /// R: #d by #d upper triangular. rcond: relative cut-off for singular values. With
  /// decompose = false a near-deficient R is only reported (uses_svd(), rank 0) without its
  /// SVD, for callers that then discard the factor.
  TriangularFactor(ColMatrix<double> R, double rcond, bool decompose = true);

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

/// An estimate of cond(R) for an upper triangular R (the power iterations of
/// TriangularFactor: sigma_max from below, sigma_min from above); inf when R is singular.
double condition_estimate(const ColMatrix<double>& R);

/// Column-norm (Jacobi) preconditioner N = diag(1 / sqrt(||a_j||^2 + reg)), zero for a zero
/// column (whose x_j then stays 0). Same interface as TriangularFactor for the CG loop. No
/// estimate of cond(A N) is available, so sigma_min() = sigma_max() (kappa taken as 1: the
/// stopping rule's attained-floor branch stays strict, and an ill-conditioned A runs to
/// max_iter, which the caller reads as the signal to switch to the sketched preconditioner).
class DiagonalFactor {
 public:
  /// squared_norms: ||a_j||^2 + reg for each column. anorm: a lower estimate of ||A||.
  DiagonalFactor(const Vector<double>& squared_norms, double anorm);
  Index dim() const { return scale_.size(); }
  double sigma_max() const { return anorm_; }
  double sigma_min() const { return anorm_; }
  RowMatrix<double> apply(const RowMatrix<double>& y) const { return scale_.asDiagonal() * y; }
  RowMatrix<double> apply_transpose(const RowMatrix<double>& g) const { return apply(g); }

 private:
  Vector<double> scale_;
  double anorm_;
};

}  // namespace nearlinear::lstsq_detail

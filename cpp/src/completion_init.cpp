// Spectral initialisation of matrix completion: randomized truncated SVD of the rescaled
// observed matrix with incoherence clipping (Jain, Netrapalli, Sanghavi 2013, Algorithm 2,
// step 2; Halko, Martinsson, Tropp 2011, Algorithms 4.4 and 5.1).
#include "completion_internal.hpp"

#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>

#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace completion {
namespace detail {

namespace {

// Y = Q R (#rows by #l, l <= rows) with Q orthonormal and R upper triangular with a positive
// diagonal (so that Q keeps the orientation of each column of Y). By Cholesky QR twice
// (Fukaya, Nakatsukasa, Yanagisawa, Yamamoto 2014, "CholeskyQR2"): two l by l Gram matrices
// and triangular solves, a few times cheaper than Householder QR for tall Y and orthogonal to
// working precision when cond(Y) is below about 1e7. The spectral start's bases are
// products with an orthonormal (or Gaussian) basis, conditioned like the top singular values'
// ratio; when the first Cholesky factor shows a condition number above 1e5 (or fails),
// Householder QR takes over.
void thin_qr(const ColMatrix<double>& Y, ColMatrix<double>& Q, RowMatrix<double>& R) {
  const Index l = Y.cols();
  Q = Y;
  R = RowMatrix<double>::Identity(l, l);
  // Coefficient-wise products and column axpys only: Eigen's general products may start
  // thread teams whose split changes the rounding with the thread count.
  for (int pass = 0; pass < 2; ++pass) {
    const RowMatrix<double> gram = Q.transpose().lazyProduct(Q);
    Eigen::LLT<RowMatrix<double>> llt(gram);
    const auto diag = llt.matrixLLT().diagonal();
    if (llt.info() != Eigen::Success || !(diag.minCoeff() > 1e-5 * diag.maxCoeff())) break;
    const RowMatrix<double> U = llt.matrixU();
    for (Index c = 0; c < l; ++c) {  // Q <- Q U^-1, column by column
      for (Index r = 0; r < c; ++r) Q.col(c) -= U(r, c) * Q.col(r);
      Q.col(c) /= U(c, c);
    }
    R = U.lazyProduct(R);
    if (pass == 1) return;
  }
  Eigen::HouseholderQR<ColMatrix<double>> qr(Y);
  Q = qr.householderQ() * ColMatrix<double>::Identity(Y.rows(), l);
  R = qr.matrixQR().topRows(l).triangularView<Eigen::Upper>();
  for (Index c = 0; c < l; ++c)
    if (R(c, c) < 0) {
      Q.col(c) *= -1.0;
      R.row(c) *= -1.0;
    }
}

// Orthonormal basis Q of the columns of Y (see thin_qr).
ColMatrix<double> orthonormal_basis(const ColMatrix<double>& Y) {
  ColMatrix<double> Q;
  RowMatrix<double> R;
  thin_qr(Y, Q, R);
  return Q;
}

// Z = scale * S (X) where S is the observed matrix minus `shift`, given in compressed order
// (ptr, idx, val) with one output row per compressed row: Z.row(i) = sum_p (val - shift) X.
ColMatrix<double> sparse_times(const std::vector<std::int64_t>& ptr,
                               const std::vector<std::int32_t>& idx,
                               const std::vector<double>& val, double shift, double scale,
                               const ColMatrix<double>& X) {
  const Index outer = static_cast<Index>(ptr.size()) - 1;
  RowMatrix<double> Xr = X;  // row access in the inner loop
  const Index l = X.cols();
  RowMatrix<double> Z = RowMatrix<double>::Zero(outer, l);
  for_range(
      0, outer, 2.0 * static_cast<double>(idx.size()) * static_cast<double>(l),
      [&](std::int64_t i) {
        double* z = Z.row(i).data();
        for (std::int64_t p = ptr[i]; p < ptr[i + 1]; ++p) {
          const double a = scale * (val[p] - shift);
          const double* x = Xr.row(idx[p]).data();
          for (Index c = 0; c < l; ++c) z[c] += a * x[c];
        }
      },
      Schedule::Dynamic, 256);
  return Z;
}

}  // namespace

void spectral_init(const Observations& obs, double shift, Index k, std::uint64_t seed,
                   RowMatrix<double>& U, RowMatrix<double>& V) {
  const Index m = obs.rows, n = obs.cols;
  const Index l = std::min<Index>(k + 10, std::min(m, n));
  const double scale =
      static_cast<double>(m) * static_cast<double>(n) / static_cast<double>(obs.nnz());

  ColMatrix<double> G(n, l);
  for_range(0, n, 20.0 * static_cast<double>(n) * static_cast<double>(l), [&](std::int64_t j) {
    for (Index c = 0; c < l; ++c) {
      const std::uint64_t counter = 2 * (static_cast<std::uint64_t>(j) * l + c);
      G(j, c) = rng::to_normal(rng::hash(seed, 0x5bd1e995, counter),
                               rng::hash(seed, 0x5bd1e995, counter + 1));
    }
  });

  auto times_M = [&](const ColMatrix<double>& X) {  // (#m by l) = M~ X
    return ColMatrix<double>(sparse_times(obs.row_ptr, obs.row_idx, obs.row_val, shift, scale, X));
  };
  auto times_Mt = [&](const ColMatrix<double>& X) {  // (#n by l) = M~^T X
    return ColMatrix<double>(sparse_times(obs.col_ptr, obs.col_idx, obs.col_val, shift, scale, X));
  };

  ColMatrix<double> Q = orthonormal_basis(times_M(G));
  for (int power = 0; power < 2; ++power) {
    Q = orthonormal_basis(times_M(orthonormal_basis(times_Mt(Q))));
  }
  // M~ ~ Q Q^T M~ = Q Z^T with Z = M~^T Q = Qz Rz, so M~ ~ Q Rz^T Qz^T; the SVD of the small
  // Rz^T gives the singular vectors.
  ColMatrix<double> Qz;
  RowMatrix<double> Rz;
  thin_qr(times_Mt(Q), Qz, Rz);
  const ColMatrix<double> Rt = Rz.transpose();
  Eigen::JacobiSVD<ColMatrix<double>> svd(Rt, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Vector<double> s = svd.singularValues().head(k);
  // Tall times tiny: coefficient-wise products, which (unlike a general matrix product)
  // never start a thread team for a few hundred kiloflops.
  ColMatrix<double> left = Q.lazyProduct(svd.matrixU().leftCols(k));
  ColMatrix<double> right = Qz.lazyProduct(svd.matrixV().leftCols(k));

  // Clip rows of the right factor to the incoherence bound, then re-orthonormalise.
  const double bound = 2.0 * std::sqrt(static_cast<double>(k) / static_cast<double>(n));
  for (Index j = 0; j < n; ++j) {
    const double norm = right.row(j).norm();
    if (norm > bound) right.row(j) *= bound / norm;
  }
  right = orthonormal_basis(right);

  const Vector<double> root = s.cwiseSqrt();
  U = left * root.asDiagonal();
  V = right * root.asDiagonal();
}

}  // namespace detail
}  // namespace completion
}  // namespace nearlinear

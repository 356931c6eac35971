// Sketched least squares: sketch-and-precondition, sketch-and-solve and direct QR.
#include "nearlinear/lstsq.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "lstsq_factor.hpp"
#include "lstsq_operator.hpp"
#include "lstsq_row_major.hpp"
#include "nearlinear/interrupt.hpp"
#include "nearlinear/sparse_structure.hpp"

namespace nearlinear {
namespace {

using lstsq_detail::condition_estimate;
using lstsq_detail::CsrArrays;
using lstsq_detail::CsrOperator;
using lstsq_detail::DenseOperator;
using lstsq_detail::DiagonalFactor;
using lstsq_detail::TriangularFactor;

constexpr double kEps = std::numeric_limits<double>::epsilon();

double resolve_rcond(const LstsqOptions& o, Index n, Index d) {
  return o.rcond >= 0 ? o.rcond : kEps * static_cast<double>(std::max(n, d));
}

void check_arguments(Index n, Index d, const ConstRowMatrixRef<double>& B,
                     const LstsqOptions& o) {
  NL_CHECK(n >= 1 && d >= 1, "A must not be empty; got shape (" << n << ", " << d << ")");
  NL_CHECK(B.rows() == n, "b must have n = A.shape[0] = " << n << " rows; got " << B.rows());
  NL_CHECK(B.cols() >= 1, "b must have at least one column");
  NL_CHECK(std::isfinite(o.reg) && o.reg >= 0, "reg must be finite and >= 0; got " << o.reg);
  NL_CHECK(std::isfinite(o.tol) && o.tol >= 0, "tol must be finite and >= 0; got " << o.tol);
  NL_CHECK(std::isfinite(o.rcond), "rcond must be finite; got " << o.rcond);
  NL_CHECK(o.max_iter >= 0, "max_iter must be >= 0; got " << o.max_iter);
  if (o.method != LstsqMethod::Direct) {
    NL_CHECK(n >= d, "methods 'precondition', 'sketch' and 'diagonal' need n >= d (a tall A); got n = "
                         << n << ", d = " << d << " (use method 'direct')");
    NL_CHECK(o.sketch_size == 0 || o.sketch_size >= d,
             "sketch_size must be >= d = " << d << "; got " << o.sketch_size);
  }
}

/// M stacked on sqrt(reg) I (the ridge-augmented system; the identity block needs no sketch).
ColMatrix<double> augment(ColMatrix<double> M, double reg) {
  if (reg <= 0) return M;
  const Index rows = M.rows(), d = M.cols();
  ColMatrix<double> out(rows + d, d);
  out.topRows(rows) = M;
  out.bottomRows(d) = std::sqrt(reg) * ColMatrix<double>::Identity(d, d);
  return out;
}

RowMatrix<double> augment_rhs(const RowMatrix<double>& B, Index d, double reg) {
  if (reg <= 0) return B;
  RowMatrix<double> out = RowMatrix<double>::Zero(B.rows() + d, B.cols());
  out.topRows(B.rows()) = B;
  return out;
}

/// The largest magnitude at which the squares and products the solvers form stay in the
/// double range (with room for sums of up to 2^100 terms).
constexpr double kMaxMagnitude = 0x1p450, kMinMagnitude = 0x1p-450;

/// Whether a largest magnitude amax is 0 or lies in [small, large].
bool magnitude_within(double amax, double small, double large) {
  return amax <= large && (amax >= small || amax == 0);
}

/// The power of two 2^e with amax / 2^e in [1/2, 1) (1 for amax = 0): dividing by it is
/// exact.
double unit_power_of_two(double amax) {
  int e = 0;
  if (amax > 0) std::frexp(amax, &e);
  return std::ldexp(1.0, e);
}

/// 1, or the power of two that brings a largest magnitude amax outside [kMinMagnitude,
/// kMaxMagnitude] into [1/2, 1).
double power_of_two_scale(double amax) {
  if (magnitude_within(amax, kMinMagnitude, kMaxMagnitude)) return 1.0;
  return 1.0 / unit_power_of_two(amax);
}

/// The iterative methods form squares of A's entries (column norms, the Gram matrix of S A):
/// an A whose magnitude leaves their range is refused, naming the remedy, rather than solved
/// into garbage. amax: the largest magnitude seen (of S A, or of a column norm's square root).
void check_magnitude(double amax) {
  NL_CHECK(magnitude_within(amax, kMinMagnitude, kMaxMagnitude),
           "`A` has entries of magnitude about " << amax << ", beyond what method 'precondition', "
           "'sketch' or 'diagonal' can square in double precision (2^-450 to 2^450): rescale A "
           "(multiplying by a power of two is exact) or use method='direct'");
}

/// Per column of B, the power of two 2^e with max_i |B_ij| / 2^e in [1/2, 1) (1 for a zero
/// column): dividing by it is exact, and the solution and residual scale back exactly.
Vector<double> column_scales(const ConstRowMatrixRef<double>& B) {
  const Index n = B.rows(), k = B.cols();
  constexpr Index kChunk = 1 << 16;
  const Index chunks = (n + kChunk - 1) / kChunk;
  std::vector<Vector<double>> part(static_cast<std::size_t>(chunks));
  const double* data = B.data();
  const Index stride = B.outerStride();
  parallel_for(0, chunks, [&](std::int64_t c) {
    const Index i0 = c * kChunk, i1 = std::min(n, i0 + kChunk);
    part[c] = Vector<double>::Zero(k);
    for (Index j = 0; j < k; ++j) {  // a plain loop per column (vectorised when k = 1)
      double m = 0.0;
      for (Index i = i0; i < i1; ++i) m = std::max(m, std::abs(data[i * stride + j]));
      part[c][j] = m;
    }
  });
  Vector<double> scale(k);
  for (Index j = 0; j < k; ++j) {
    double amax = 0.0;
    for (const auto& p : part) amax = std::max(amax, p[j]);
    scale[j] = unit_power_of_two(amax);
  }
  return scale;
}

/// Columns of B so large or small that their squares would overflow or underflow (max |b|
/// outside [2^-400, 2^400]: n squares of up to 2^800 still sum below the double range) are
/// solved scaled by a power of two and scaled back, exactly; every other column as given
/// (only a scan of B in the common case). solve(B) returns the result for B.
template <typename Solve>
LstsqResult with_rhs_in_range(const ConstRowMatrixRef<double>& B, Solve&& solve) {
  Vector<double> scale = column_scales(B);
  bool scaled = false;
  for (Index j = 0; j < scale.size(); ++j) {
    if (magnitude_within(scale[j], 0x1p-400, 0x1p400)) {
      scale[j] = 1.0;
    } else {
      scaled = true;
    }
  }
  if (!scaled) return solve(B);
  const RowMatrix<double> B_scaled = B * scale.cwiseInverse().asDiagonal();
  LstsqResult res = solve(ConstRowMatrixRef<double>(B_scaled));
  res.x = res.x * scale.asDiagonal();
  res.residual_norm = res.residual_norm.cwiseProduct(scale);
  return res;
}

/// Thrown by a single-precision sketch of a finite A whose values overflow in float (the
/// caller then solves with A widened to double).
struct SketchOverflow {};

/// A sketch in double precision: moved when it already is (no copy of the #m by #d matrix).
template <typename T>
RowMatrix<double> as_double(RowMatrix<T>&& M) {
  if constexpr (std::is_same_v<T, double>) {
    return std::move(M);
  } else {
    return M.template cast<double>();
  }
}

/// Householder QR of M (#rows by #d, rows >= d): the factor of R and c = (Q^T rhs)[:d].
TriangularFactor factor_and_project(ColMatrix<double> M, const RowMatrix<double>& rhs,
                                    double rcond, RowMatrix<double>& c) {
  const Index d = M.cols();
  Eigen::HouseholderQR<ColMatrix<double>> qr(std::move(M));
  RowMatrix<double> qtb = qr.householderQ().adjoint() * rhs;
  c = qtb.topRows(d);
  ColMatrix<double> R = qr.matrixQR().topRows(d).template triangularView<Eigen::Upper>();
  return TriangularFactor(std::move(R), rcond);
}

/// Largest cond(S A D^-1) at which the precondition method keeps the Cholesky factor of the
/// Gram matrix, D the column norms of S A: R is then exact to about cond^2 eps = 2e-4
/// relative, so A R^-1 keeps its singular values within (1 +- sqrt(d/m)) (1 + 2e-4) and CG
/// its rate. The rounding of the Gram product and of Cholesky is relative to the columns'
/// norms (|dG_ij| <= gamma ||s_i|| ||s_j||), so it is the condition number of the columns
/// scaled to unit norm that counts: a design whose columns differ only in units keeps the
/// fast factor.
constexpr double kMaxGramCond = 1e6;

/// Largest cond(S A D^-1) at which a Gram matrix formed in single precision is kept. Its
/// rounding (S A to float, then the sums) is about 1.5e-7 relative to ||s_i|| ||s_j||
/// (measured, m = 4000 to 8000, d = 200 to 1000) and perturbs R^-T G R^-1 by cond^2 times
/// that: 1.5e-3 at cond 100, which leaves CG's rate as it is. R only preconditions: x stays
/// double throughout.
constexpr double kMaxFloatGramCond = 100;

/// The condition number that decides whether the Cholesky factor R of `gram` is well enough
/// conditioned for its precision, if it is at most max_cond (else nothing): the estimate of
/// F (cond(R) itself), or, when that is too large, of R with its columns scaled by
/// 1 / sqrt(gram_jj), a triangular factor of the unit-diagonal Gram matrix.
std::optional<double> well_conditioned(const TriangularFactor& F, const ColMatrix<double>& R,
                                       const ColMatrix<double>& gram, double max_cond) {
  if (F.uses_svd()) return std::nullopt;
  if (F.sigma_max() <= max_cond * F.sigma_min()) return F.sigma_max() / F.sigma_min();
  // cond(R D^-1) >= cond(R) / cond(D): no estimate when the columns' norms are too alike for
  // the scaling to bring cond(R) under max_cond (an ill-conditioned design in one unit).
  const Vector<double> norms = gram.diagonal().cwiseSqrt();
  if (!(F.sigma_max() * norms.minCoeff() <= max_cond * F.sigma_min() * norms.maxCoeff()))
    return std::nullopt;
  const double scaled = condition_estimate(R * norms.cwiseInverse().asDiagonal());
  if (!(scaled <= max_cond)) return std::nullopt;
  return scaled;
}

/// The Cholesky factorisation of a Gram matrix kept as a preconditioner: its LLT (for the warm
/// start's c = L^-1 (S A)^T S B), the factor R, and the condition number that accepted it.
struct GramCholesky {
  Eigen::LLT<ColMatrix<double>, Eigen::Lower> llt;
  TriangularFactor F;
  double cond;
};

/// The Cholesky factor of `gram` when it succeeds and is well conditioned for max_cond
/// (well_conditioned; a near-deficient factor is rejected without its SVD). `failed` tells a
/// Cholesky that failed apart from one too ill-conditioned.
std::optional<GramCholesky> gram_cholesky(const ColMatrix<double>& gram, double rcond,
                                          double max_cond, bool* failed = nullptr) {
  Eigen::LLT<ColMatrix<double>, Eigen::Lower> llt(gram);
  if (failed) *failed = llt.info() != Eigen::Success;
  if (llt.info() != Eigen::Success) return std::nullopt;
  ColMatrix<double> R = llt.matrixU();
  TriangularFactor F(R, rcond, /*decompose=*/false);
  const std::optional<double> cond = well_conditioned(F, R, gram, max_cond);
  if (!cond) return std::nullopt;
  return GramCholesky{std::move(llt), std::move(F), *cond};
}

/// The factor's rank and condition estimate in the result.
void record_factor(const TriangularFactor& F, LstsqResult& res) {
  res.rank = F.rank();
  res.cond_estimate = F.sigma_min() > 0 ? F.sigma_max() / F.sigma_min()
                                        : std::numeric_limits<double>::infinity();
}

/// The lower triangle of SA^T SA (+ reg I) as a symmetric rank update (m d^2 flops, half of
/// a general product), split into a fixed number of row blocks run in parallel and summed in
/// order (the same result on any thread count). The scalar of Matrix (a RowMatrix or
/// ColMatrix) is the precision of the products.
template <typename Matrix>
ColMatrix<double> lower_gram(const Matrix& SA, double reg) {
  using T = typename Matrix::Scalar;
  const Index m = SA.rows(), d = SA.cols();
  const Index blocks = std::clamp<Index>(m / 1024, 1, 4), per_block = (m + blocks - 1) / blocks;
  std::vector<ColMatrix<T>> partial(static_cast<std::size_t>(blocks));
  parallel_for(
      0, blocks,
      [&](std::int64_t b) {
        const Index r0 = b * per_block, rows = std::min(m, r0 + per_block) - r0;
        ColMatrix<T>& G = partial[b];
        G = ColMatrix<T>::Zero(d, d);
        G.template selfadjointView<Eigen::Lower>().rankUpdate(SA.middleRows(r0, rows).transpose());
      },
      Schedule::Dynamic, 1);
  ColMatrix<double> gram = partial[0].template cast<double>();
  for (Index b = 1; b < blocks; ++b) gram += partial[b].template cast<double>();
  if (reg > 0) gram.diagonal().array() += reg;
  return gram;
}

/// The preconditioner of the precondition method by Cholesky QR: (S A)^T (S A) + reg I =
/// R^T R, and c = R^-T (S A)^T S B (the semi-normal equations, exact enough for a warm
/// start). The Gram product is a parallel symmetric rank update of m d^2 flops, formed in
/// single precision first (twice the flop rate) and kept when cond(R) <= kMaxFloatGramCond,
/// else formed again in double; the Cholesky costs d^3 / 3, where Householder QR is sequential
/// and costs 2 m d^2 - 2 d^3 / 3. Returns nothing (and the caller factors S A by Householder
/// QR) when the Cholesky fails, when cond(R) exceeds kMaxGramCond, or when R is near rank
/// deficiency (the SVD path needs the QR's accuracy). float_gram = false: straight to double.
std::optional<TriangularFactor> gram_factor(const RowMatrix<double>& SA,
                                            const RowMatrix<double>& SB, double reg,
                                            double rcond, RowMatrix<double>& c, bool float_gram) {
  for (const bool single : {true, false}) {
    if (single && !float_gram) continue;
    const ColMatrix<double> gram =
        single ? lower_gram(RowMatrix<float>(SA.cast<float>()), reg) : lower_gram(SA, reg);
    std::optional<GramCholesky> g =
        gram_cholesky(gram, rcond, single ? kMaxFloatGramCond : kMaxGramCond);
    if (!g) {
      if (single) continue;
      return std::nullopt;
    }
    const RowMatrix<double> projected = SA.transpose() * SB;
    c = g->llt.matrixL().solve(projected);
    return std::move(g->F);
  }
  return std::nullopt;
}

/// The relative rounding, per column, of a sparse sign sketch summed in single precision
/// (sketch_dense_single_fused): each entry sums about s n / m contributions in row order, a
/// random walk of roundings of unit 2^-24. Twice sqrt(s n / m) 2^-24 bounds what was measured
/// with a margin of 6 to 9 (1.6e-7 at 100000 x 1000, m = 6000; 6.0e-7 at 1e6 x 100, m = 2000).
double single_sketch_rounding(const SketchSpec& spec) {
  const double terms = static_cast<double>(spec.nnz_per_column) * static_cast<double>(spec.n) /
                       static_cast<double>(spec.m);
  return 2.0 * std::ldexp(std::sqrt(std::max(1.0, terms)), -24);
}

/// Largest rounding times cond(S A D^-1) (columns scaled to unit norm) at which the
/// single-precision sketch is kept as the preconditioner: it perturbs A R^-1 by about that
/// much (with 50000 x 500 designs of cond(A) up to 1e5, whose product was 1.6e-2, cond(A R^-1)
/// was unchanged to four digits). At the default sizes this allows cond up to about 1e4.
constexpr double kMaxSingleSketchDistortion = 1e-2;

/// Largest rounding times cond at which the warm start from the single-precision sketch is
/// kept whatever the residual. When b is nearly explained by A, sketch-and-solve's own error
/// (about sqrt(d / (m - d)) ||r*||) is small and the rounding's, about that product times
/// ||S A x||, decides how far CG starts from x*: each CG iteration divides the error by about
/// 2.4 at the default m, so up to 1e-5 costs a few iterations (measured: one, on an exactly
/// consistent 100000 x 1000 at the default tol, product 4e-7), less than sketching again.
constexpr double kMaxSingleStartDistortion = 1e-5;

/// What became of the single-precision sketch (single_sketch_factor).
enum class SingleSketch {
  Kept,        ///< factor and warm start from it
  IllPosed,    ///< too ill-conditioned for a Gram matrix in float, and for this sketch
  Unsuitable,  ///< out of float's range, or its rounding too large for the warm start
};

/// The preconditioner and the warm start X from a single-precision sketch S A: the Cholesky
/// factor of its Gram matrix in float when cond(S A D^-1) <= kMaxFloatGramCond, else in double
/// (the sketch widened) when the sketch's rounding allows the condition number
/// (kMaxSingleSketchDistortion), and the warm start when its rounding allows
/// (kMaxSingleStartDistortion, where the rounding would dominate the start's error).
/// Otherwise the caller sketches again in double and, when this sketch was IllPosed, skips
/// the float Gram matrix (the double sketch's would fail too). Also refused: S A not finite
/// or its columns' norms outside 2^-60 to 2^60 (float's range for the sums of squares).
SingleSketch single_sketch_factor(const RowMatrix<float>& SA, const RowMatrix<double>& SB,
                                  const SketchSpec& spec, double reg, double rcond,
                                  std::optional<TriangularFactor>& factor, RowMatrix<double>& X) {
  const Index m = SA.rows(), d = SA.cols();
  if (m <= d || !SA.allFinite()) return SingleSketch::Unsuitable;
  const double rounding = single_sketch_rounding(spec);
  for (const bool single : {true, false}) {
    const ColMatrix<double> gram =
        single ? lower_gram(SA, reg) : lower_gram(RowMatrix<double>(SA.cast<double>()), reg);
    const auto diag = gram.diagonal();
    if (!(diag.minCoeff() >= std::ldexp(1.0, -120) && diag.maxCoeff() <= std::ldexp(1.0, 120)))
      return SingleSketch::Unsuitable;
    const double max_cond = std::min(single ? kMaxFloatGramCond : kMaxGramCond,
                                     kMaxSingleSketchDistortion / rounding);
    bool failed = false;
    std::optional<GramCholesky> g = gram_cholesky(gram, rcond, max_cond, &failed);
    // A float Cholesky that fails (cond^2 beyond about 1 / (2^-24 d)): far too ill-posed
    // for this sketch too, whose double Gram matrix is not worth forming.
    if (failed) return SingleSketch::IllPosed;
    if (!g) {
      if (single) continue;
      return SingleSketch::IllPosed;
    }
    const RowMatrix<float> SBf = SB.cast<float>();
    X = g->F.solve(
        g->llt.matrixL().solve(RowMatrix<double>((SA.transpose() * SBf).cast<double>())));
    const double distortion = rounding * g->cond;
    if (distortion > kMaxSingleStartDistortion) {
      const RowMatrix<double> fit = (SA * X.cast<float>()).cast<double>();
      const double sketch_error = std::sqrt(static_cast<double>(d) / static_cast<double>(m - d));
      for (Index j = 0; j < SB.cols(); ++j)
        if (!(distortion * fit.col(j).norm() <=
              0.1 * sketch_error * (SB.col(j) - fit.col(j)).norm()))
          return SingleSketch::Unsuitable;
    }
    factor.emplace(std::move(g->F));
    return SingleSketch::Kept;
  }
  return SingleSketch::IllPosed;
}

/// Conjugate gradients on the normal equations of min ||A N y - b||^2 + reg ||N y||^2,
/// carried in x = N y, from the given X. The preconditioned gradient is
/// s = N^T (A^T r - reg x). A column stops when
///   ||s|| <= tol (||r|| + ||A|| ||x|| + ||b||),                              (strict)
/// the size a relative backward perturbation tol of A and b produces in s when N is
/// well scaled. The test runs on the CG recurrences and is confirmed on the true residual,
/// restarting CG from there when it fails (at most 4 restarts). Rounding in A^T r alone
/// puts a floor of about eps ||A|| ||N|| ||r|| under the true ||s|| (large when A is
/// ill-conditioned and the residual large), so a column is also accepted when a restart
/// no longer halves the true ||s|| and
///   ||s|| <= 10 tol (||A|| ||N|| ||r|| + ||A|| ||x|| + ||b||).               (attained floor)
/// A residual pass already made at the starting X: G = A^T (B - A X), rsq_j = ||B_j - A X_j||^2.
struct FirstPass {
  RowMatrix<double> G;
  Vector<double> rsq;
};

/// What bounds the drift of the CG recurrences from the true gradient for the Jacobi factor
/// N = diag(1 / ||a_j||) (see preconditioned_cg): unit roundoff times the number of terms of
/// any sum a pass accumulates (gamma), and K >= || |A| N ||_2^2 + reg ||N||^2, bounded by the
/// squared Frobenius norm sum_j ||a_j||^2 / (||a_j||^2 + reg) (+1 with ridge).
struct DriftBound {
  double gamma = 0.0;
  double K = 0.0;
  double factor_rounding = 0.0;  // rounding of F^T v beyond the diagonal's, in eps ||F^T v||
};

/// Relative size of the CG recurrence gradient (to its value at the start of a round) at
/// which a round ends whatever tol asks: far below the rounding floor of any attainable
/// solution, and far above the underflow that would make the updates garbage.
constexpr double kRecurrenceFloor = 1e-3 * kEps;

/// With a DriftBound (the Jacobi factor, started from X = 0 by the first pass), a column
/// stopped on the recurrences is also accepted without the confirming pass when a
/// first-order rounding bound on the gap between the recurrence gradient s_rec and the
/// true gradient s of the final x keeps ||s|| <= ||s_rec|| + gap under the threshold. In
/// y = N^-1 x, each iteration computes fl(A^T A N p) = A^T A N p + e with
/// |e| <= gamma |A|^T |A| N |p|, so the gradient update s -= alpha N T moves s_rec from the
/// gradient of the updated x by at most gamma K ||alpha p|| (||alpha p|| = ||dy||, the
/// step), and the rounding of the updates of x and s adds eps (K ||y|| + 2 ||s||). The first
/// pass at x = 0 contributes gamma sqrt(K) ||b||. Summed over the iterations (||y|| <=
/// sum ||dy|| from y = 0), this is a rigorous bound up to second-order terms, with no
/// assumption on cond(A N): cond only turns a small gradient into a small error, which is
/// what the threshold already accounts for. The residual norm is then the recurrence's
/// ||r||^2 = ||b||^2 - sum alpha gamma, whose error (the gap and the loss of local
/// orthogonality, 2 ||dy|| (gap + eps ||s||) per step) must be below 1e-8 ||r||^2, and the
/// column must not have cancelled to under a tenth of ||b||. Otherwise the pass is made.
template <typename Op, typename Factor>
void preconditioned_cg(const Op& op, const ConstRowMatrixRef<double>& B, const Factor& F,
                       double reg, double tol, Index max_iter, RowMatrix<double>& X,
                       LstsqResult& res, FirstPass* first, const DriftBound* drift = nullptr) {
  const Index k = B.cols();
  // ||b||: the first pass's residual norms when it was made at X = 0 (no extra read of B).
  const Vector<double> bnorm = first && X.isZero(0.0) ? first->rsq.cwiseSqrt().eval()
                                                      : B.colwise().norm().transpose().eval();
  const double anorm = F.sigma_max();
  const double kappa = F.sigma_min() > 0 ? F.sigma_max() / F.sigma_min() : 1.0;
  auto threshold = [&](Index j, double rnorm, double rfactor) {
    return tol * (rfactor * rnorm + anorm * X.col(j).norm() + bnorm[j]);
  };
  // The recurrences drift from the true gradient by rounding in the products with A and N,
  // about (iterations) sqrt(n) eps cond(A) relative to the threshold's scale. When tol is
  // far above that drift, a column stopped on the recurrences needs no confirming pass (nor
  // its residual norm, provided it did not cancel to a small part of the true one at the
  // start of the round). Only for a triangular factor of full rank, and never at the
  // default tol (a few eps).
  const double drift_scale = std::sqrt(static_cast<double>(op.rows())) * kappa * kEps;
  auto trust_recurrence = [&](Index its) {
    if constexpr (!std::is_same_v<Factor, TriangularFactor>) {  // Jacobi: cond(A N) unknown
      return false;
    } else {
      return reg == 0 && !F.uses_svd() && F.sigma_min() > 0 &&
             1e3 * static_cast<double>(its + 1) * drift_scale <= tol;
    }
  };
  RowMatrix<double> G, T;
  Vector<double> rsq, q;
  std::vector<double> previous(k, std::numeric_limits<double>::infinity());
  Index iters = 0;
  for (int round = 0;; ++round) {
    if (round == 0 && first) {  // counted in n_passes by the caller
      G = std::move(first->G);
      rsq = std::move(first->rsq);
    } else {
      op.residual(X, B, G, rsq);
      ++res.n_passes;
    }
    res.residual_norm = rsq.cwiseSqrt();
    if (reg > 0) {
      G.noalias() -= reg * X;
      rsq += reg * X.colwise().squaredNorm().transpose();
    }
    RowMatrix<double> S = F.apply_transpose(G);
    std::vector<char> active(k);
    bool all_ok = true;
    for (Index j = 0; j < k; ++j) {
      const double sn = S.col(j).norm(), rn = std::sqrt(rsq[j]);
      const bool strict = sn <= threshold(j, rn, 1.0);
      const bool floor = round > 0 && sn >= 0.5 * previous[j] &&
                         sn <= 10.0 * threshold(j, rn, kappa);
      previous[j] = sn;
      active[j] = !(strict || floor);
      if (active[j]) all_ok = false;
    }
    res.converged = all_ok;
    if (all_ok || iters >= max_iter || round == 4) break;

    RowMatrix<double> P = S;
    Vector<double> gamma = S.colwise().squaredNorm().transpose();
    for (Index j = 0; j < k; ++j)
      if (!active[j]) P.col(j).setZero();
    const Vector<double> rsq_start = rsq;
    const Vector<double> s_start = S.colwise().norm().transpose();
    const std::vector<char> was_active(active);
    std::vector<char> stopped(active);  // active columns stopped by the recurrence test
    // The drift bound (with a DriftBound, first round only): gap of the gradient, sum of
    // the steps ||dy||, and bound on the error of the rsq recurrence.
    Vector<double> gap = Vector<double>::Zero(k), steps = Vector<double>::Zero(k);
    Vector<double> rsq_error = Vector<double>::Zero(k);
    const bool bounding = drift && round == 0 && first;
    if (bounding)
      for (Index j = 0; j < k; ++j)
        gap[j] = drift->gamma * std::sqrt(drift->K) * bnorm[j] +
                 kEps * drift->factor_rounding * S.col(j).norm();
    while (iters < max_iter) {
      check_interrupt();
      const RowMatrix<double> W = F.apply(P);
      op.normal(W, T, q);
      ++res.n_passes;
      ++iters;
      if (reg > 0) {
        T.noalias() += reg * W;
        q += reg * W.colwise().squaredNorm().transpose();
      }
      const RowMatrix<double> NT = F.apply_transpose(T);
      bool any_active = false;
      for (Index j = 0; j < k; ++j) {
        if (!active[j]) continue;
        const double delta = q[j];
        if (!(delta > 0) || !std::isfinite(delta)) {  // breakdown: leave it to the true test
          stopped[j] = false;
          active[j] = false;
          P.col(j).setZero();
          continue;
        }
        const double alpha = gamma[j] / delta;
        if (bounding) {
          const double step = alpha * P.col(j).norm();
          const double s_norm = std::sqrt(gamma[j]);
          steps[j] += step;
          gap[j] += drift->gamma * drift->K * step +
                    kEps * (drift->K * steps[j] + 2.0 * s_norm +
                            (2.0 + drift->factor_rounding) * std::abs(alpha) * NT.col(j).norm());
          rsq_error[j] += 2.0 * step * (gap[j] + 4.0 * kEps * s_norm) + 4.0 * kEps * alpha * gamma[j];
        }
        X.col(j).noalias() += alpha * W.col(j);
        S.col(j).noalias() -= alpha * NT.col(j);
        rsq[j] = std::max(0.0, rsq[j] - alpha * gamma[j]);
        const double gamma_new = S.col(j).squaredNorm();
        if (std::sqrt(gamma_new) <= threshold(j, std::sqrt(rsq[j]), 1.0)) {
          active[j] = false;
          P.col(j).setZero();
          continue;
        }
        // A recurrence gradient this far below the round's start is rounding noise (an
        // unreachable tol): end the round and let the true gradient decide, before the
        // recurrences underflow and blow up the iterate.
        if (std::sqrt(gamma_new) <= kRecurrenceFloor * s_start[j]) {
          active[j] = false;
          stopped[j] = false;
          P.col(j).setZero();
          continue;
        }
        P.col(j) = S.col(j) + (gamma_new / gamma[j]) * P.col(j);
        gamma[j] = gamma_new;
        any_active = true;
      }
      if (!any_active) break;
    }
    // Every column still active at the start of the round stopped on the recurrence test:
    // accept without the confirming pass when the drift is far below tol.
    bool trusted = trust_recurrence(iters);
    for (Index j = 0; j < k && trusted; ++j)
      trusted = !was_active[j] || (!active[j] && stopped[j] &&
                                   rsq[j] >= 1e-2 * rsq_start[j]);
    // rsq carries reg ||x||^2 with ridge: the residual norm is what is left of it.
    const Vector<double> ridge = reg * X.colwise().squaredNorm().transpose();
    if (bounding && !trusted) {
      trusted = true;
      for (Index j = 0; j < k && trusted; ++j) {
        const double r2 = rsq[j] - ridge[j];
        trusted = !was_active[j] ||
                  (!active[j] && stopped[j] && r2 >= 1e-2 * rsq_start[j] &&
                   rsq_error[j] + 4.0 * kEps * ridge[j] <= 1e-8 * r2 &&
                   S.col(j).norm() + gap[j] <= threshold(j, std::sqrt(r2), 1.0));
      }
    }
    if (trusted) {
      res.residual_norm = (rsq - ridge).cwiseMax(0.0).cwiseSqrt();
      res.converged = true;
      break;
    }
  }
  res.n_iter = iters;
}

/// preconditioned_cg with the options' tol and max_iter, or their defaults (lstsq.hpp).
template <typename Op, typename Factor>
void iterate(const Op& op, const ConstRowMatrixRef<double>& B, const Factor& F,
             const LstsqOptions& o, RowMatrix<double>& X, LstsqResult& res,
             FirstPass* first = nullptr, const DriftBound* drift = nullptr) {
  const double tol = o.tol > 0 ? o.tol : lstsq_default_tol();
  const Index max_iter = o.max_iter > 0 ? o.max_iter : 200;
  preconditioned_cg(op, B, F, o.reg, tol, max_iter, X, res, first, drift);
}

/// The factor of the sketched problem and its solution X = argmin ||S A X - S B||: the Cholesky
/// QR of the Gram matrix for the precondition method (the warm start), Householder QR
/// otherwise (sketch-and-solve returns the solution of the sketched problem itself, so it
/// keeps the backward-stable QR; the precondition method only needs a good R).
TriangularFactor solve_sketched(RowMatrix<double> SA, const RowMatrix<double>& SB,
                                const LstsqOptions& o, double rcond, RowMatrix<double>& X,
                                LstsqResult& res, bool float_gram = true) {
  const Index d = SA.cols();
  RowMatrix<double> c;
  std::optional<TriangularFactor> gram;
  if (o.method == LstsqMethod::Precondition)
    gram = gram_factor(SA, SB, o.reg, rcond, c, float_gram);
  TriangularFactor F =
      gram ? std::move(*gram)
           : factor_and_project(augment(ColMatrix<double>(SA), o.reg), augment_rhs(SB, d, o.reg),
                                rcond, c);
  record_factor(F, res);
  X = F.solve(c);
  return F;
}

/// Largest share of a column's residual norm that the single-precision rounding of a
/// sketch-and-solve may move (see single_sketch_solve).
constexpr double kMaxSingleSketchShare = 1e-3;

/// Sketch-and-solve (reg = 0) from an SRHT of A and B formed in single precision
/// (sketch_dense_single: about twice as fast as in double). The rounding perturbs S A by E
/// and S B by e, of relative size about u = depth 2^-24 (depth: srht_single_rounding_depth),
/// and moves the solution by dx = (S A)^+ (e - E x) to first order, so its residual by
/// ||A dx|| ~ ||S A dx|| <= u (||b|| + ||S A|| ||x||) (the sketch's distortion aside). A
/// column is kept when that is below kMaxSingleSketchShare ||A x - b|| (the sketch's own
/// error, a factor 1 + O(eps) of the optimal residual, dominates it by far) and
/// cond(S A) u <= 1e-2 (first order holds, and no rank is lost to the rounding); the others
/// (near-consistent or ill-conditioned problems) are left to the double-precision sketch.
/// Each column's outcome depends on that column alone, as if it were solved by itself.
/// SA, SB: the single-precision sketches, widened. Returns the kept columns (none when the
/// condition test fails), with their solution in X and squared residual norms in rsq.
template <typename Op>
std::vector<char> single_sketch_solve(const Op& op, RowMatrix<double> SA,
                                      const RowMatrix<double>& SB,
                                      const ConstRowMatrixRef<double>& B, const SketchSpec& spec,
                                      const LstsqOptions& o, double rcond, RowMatrix<double>& X,
                                      Vector<double>& rsq, LstsqResult& res) {
  const double u = std::ldexp(static_cast<double>(srht_single_rounding_depth(spec.n, spec.m)), -24);
  const Index k = B.cols();
  const TriangularFactor F = solve_sketched(std::move(SA), SB, o, rcond, X, res);
  if (F.uses_svd() || !(res.cond_estimate * u <= 1e-2)) return std::vector<char>(k, 0);
  op.residual_norms(X, B, rsq);
  ++res.n_passes;
  const Vector<double> bnorm = B.colwise().norm().transpose();
  std::vector<char> kept(k);
  for (Index j = 0; j < k; ++j)
    kept[j] = u * (bnorm[j] + F.sigma_max() * X.col(j).norm()) <=
              kMaxSingleSketchShare * std::sqrt(rsq[j]);
  return kept;
}

/// The first pass of the precondition method from the better of two starts, column by
/// column: the sketch-and-solve solution X and zero. CG on the normal equations reduces the
/// error in the norm ||A e|| (plus reg ||e||^2 with ridge), and ||A (x - x*)||^2 =
/// ||A x - b||^2 - ||A x* - b||^2 (with ridge, the same for the augmented system), so the
/// start with the smaller residual is the one closer to x* in that norm, exactly. The warm
/// start is the better one when b is well explained by A; when most of b is noise it is not:
/// its error, about sqrt(d / (m - d)) ||r*|| (sketch-and-solve), exceeds ||A x*||, the error of
/// zero (a Gaussian 100000 x 1000 with random b: 0.45 ||b|| against 0.1 ||b||, one to two
/// iterations). One pass with B and X side by side evaluates both: the residual pass at zero
/// is A^T b and ||b||^2. Columns that start from zero have X set to zero.
template <typename Op>
FirstPass better_start(const Op& op, const ConstRowMatrixRef<double>& B, double reg,
                       RowMatrix<double>& X) {
  const Index d = X.rows(), k = X.cols();
  RowMatrix<double> X2 = RowMatrix<double>::Zero(d, 2 * k), B2(B.rows(), 2 * k);
  X2.leftCols(k) = X;
  B2 << B, B;
  RowMatrix<double> G2;
  Vector<double> rsq2;
  op.residual(X2, B2, G2, rsq2);
  FirstPass first{G2.leftCols(k), rsq2.head(k)};
  for (Index j = 0; j < k; ++j) {
    if (rsq2[j] + reg * X.col(j).squaredNorm() <= rsq2[k + j]) continue;
    X.col(j).setZero();
    first.G.col(j) = G2.col(k + j);
    first.rsq[j] = rsq2[k + j];
  }
  return first;
}

/// Largest ratio of the estimated squared errors ||A x*||^2 / ||A (x_s - x*)||^2 of the two
/// starts (zero, the sketch-and-solve solution x_s) at which clear_zero_start picks zero.
constexpr double kClearZeroStart = 0.25;

/// The first pass of the precondition method at X = 0 without a pass over A, when A^T B came
/// with the sketch and zero is clearly the better start for every column (better_start
/// otherwise measures both residuals). ||A x*||^2 = g^T (A^T A)^-1 g with g = A^T b exactly,
/// and ||R^-T g||^2 estimates it, R^T R = (S A)^T S A: for a Gaussian S, E[((S A)^T S A)^-1] =
/// m / (m - d - 1) (A^T A)^-1, and for a fixed g the ratio scatters by about sqrt(2 / (m - d))
/// (2 % at m = 6000, d = 1000). The warm start's error is about d / (m - d - 1) ||r*||^2 with
/// ||r*||^2 = ||b||^2 - ||A x*||^2. Zero is taken only when its error is clearly the smaller
/// (kClearZeroStart leaves room for the sparse sign sketch's constants to differ from the
/// Gaussian's); a wrong pick would cost iterations, never accuracy.
std::optional<FirstPass> clear_zero_start(const TriangularFactor& F, RowMatrix<double>& ATB,
                                          const ConstRowMatrixRef<double>& B, Index m) {
  const Index d = F.dim();
  if (ATB.size() == 0 || F.uses_svd() || m <= d + 1) return std::nullopt;
  const Vector<double> bsq = B.colwise().squaredNorm().transpose();
  if (!bsq.allFinite()) NL_CHECK(B.allFinite(), "`b` must not contain NaN or inf");
  const Vector<double> h_sq = F.apply_transpose(ATB).colwise().squaredNorm().transpose();
  const double fit_scale = static_cast<double>(m - d - 1) / static_cast<double>(m);
  const double warm_scale = static_cast<double>(d) / static_cast<double>(m - d - 1);
  for (Index j = 0; j < B.cols(); ++j) {
    const double fit = fit_scale * h_sq[j];
    if (!(fit <= kClearZeroStart * warm_scale * std::max(0.0, bsq[j] - fit))) return std::nullopt;
  }
  return FirstPass{std::move(ATB), bsq};
}

/// Sketch-and-precondition or sketch-and-solve. SketchA(spec, ATB) returns S A (#m by #d) and,
/// given ATB, sets it to A^T B where its read of A forms that too (sketch_dense_fused), else
/// leaves it empty; SketchSingle(spec, ATB) does the same for a dense double A in single
/// precision (sketch_dense_single_fused), or is nullptr where there is none. The precondition
/// method with a sparse sign sketch tries the single-precision sketch first
/// (single_sketch_factor) and sketches again in double when it does not do.
template <typename Op, typename SketchA, typename SketchSingle>
LstsqResult sketched_solve(const Op& op, SketchA&& sketch_a, SketchSingle&& sketch_single,
                           const ConstRowMatrixRef<double>& B, double nnz, const LstsqOptions& o) {
  const Index n = op.rows(), d = op.cols();
  LstsqResult res;
  SketchSpec spec;
  spec.kind = o.sketch;
  spec.m = o.sketch_size > 0 ? o.sketch_size
                             : lstsq_default_sketch_size(o.method, n, d, nnz, 0.5, o.tol);
  if (spec.kind == SketchKind::SRHT) spec.m = std::min(spec.m, srht_padded_size(n));
  spec.n = n;
  spec.seed = o.seed;
  spec.nnz_per_column = std::min<Index>(o.nnz_per_column, spec.m);
  validate_sketch(spec);
  res.sketch_size = spec.m;
  const double rcond = resolve_rcond(o, n, d);

  res.n_passes = 1;
  RowMatrix<double> X_single;
  Vector<double> rsq_single;
  std::vector<char> kept;
  if constexpr (!std::is_same_v<std::decay_t<SketchSingle>, std::nullptr_t>) {
    if (o.method == LstsqMethod::Sketch && spec.kind == SketchKind::SRHT && o.reg == 0) {
      // B's columns scaled by powers of two into [1/2, 1) first: a tiny or huge b would
      // under- or overflow in single precision (x and the residual scale back exactly).
      const Vector<double> scale = column_scales(B);
      const RowMatrix<double> B_unit = B * scale.cwiseInverse().asDiagonal();
      const RowMatrix<double> SB =
          sketch_dense_single(spec, ConstRowMatrixRef<double>(B_unit)).cast<double>();
      kept = single_sketch_solve(op, sketch_single(spec, nullptr).template cast<double>(), SB,
                                 B_unit, spec, o, rcond, X_single, rsq_single, res);
      X_single = X_single * scale.asDiagonal();  // (rsq_single is empty when none is kept)
      if (rsq_single.size() == scale.size()) rsq_single = rsq_single.cwiseProduct(scale.cwiseAbs2());
      if (std::all_of(kept.begin(), kept.end(), [](char c) { return c != 0; })) {
        res.residual_norm = rsq_single.cwiseSqrt();
        res.x = std::move(X_single);
        return res;
      }
      ++res.n_passes;  // the double-precision sketch below
    }
  }
  RowMatrix<double> SB = sketch_dense<double>(spec, B);
  RowMatrix<double> X;
  // A^T B along with the sketch, for the zero start of the precondition method (with ridge,
  // better_start's pass measures both starts).
  RowMatrix<double> ATB;
  const bool fuse = o.method == LstsqMethod::Precondition && o.reg == 0 &&
                    B.cols() <= kMaxFusedColumns;
  // The precondition method's sparse sign sketch of a double A in single precision first.
  std::optional<TriangularFactor> single;
  SingleSketch outcome = SingleSketch::Unsuitable;
  if constexpr (!std::is_same_v<std::decay_t<SketchSingle>, std::nullptr_t>) {
    if (o.method == LstsqMethod::Precondition && spec.kind == SketchKind::SparseSign) {
      outcome = single_sketch_factor(sketch_single(spec, fuse ? &ATB : nullptr), SB, spec,
                                     o.reg, rcond, single, X);
      if (!single) ++res.n_passes;  // the double-precision sketch below
    }
  }
  const TriangularFactor F = single ? std::move(*single) : [&] {
    RowMatrix<double> SA = sketch_a(spec, fuse && ATB.size() == 0 ? &ATB : nullptr);
    check_magnitude(SA.cwiseAbs().maxCoeff());
    return solve_sketched(std::move(SA), SB, o, rcond, X, res,
                          /*float_gram=*/outcome != SingleSketch::IllPosed);
  }();
  if (single) record_factor(F, res);
  if (o.method == LstsqMethod::Sketch) {
    Vector<double> rsq;
    op.residual_norms(X, B, rsq);
    ++res.n_passes;
    for (Index j = 0; j < static_cast<Index>(kept.size()); ++j)
      if (kept[j]) {
        X.col(j) = X_single.col(j);
        rsq[j] = rsq_single[j];
      }
    res.residual_norm = rsq.cwiseSqrt();
  } else {
    std::optional<FirstPass> zero = clear_zero_start(F, ATB, B, spec.m);
    if (zero) {  // A^T B and ||B||^2 are the first pass at X = 0
      X.setZero();
      iterate(op, B, F, o, X, res, &*zero);
    } else if (2 * B.cols() <= op.narrow_pass_width()) {
      FirstPass first = better_start(op, B, o.reg, X);
      ++res.n_passes;
      iterate(op, B, F, o, X, res, &first);
    } else {
      iterate(op, B, F, o, X, res);
    }
  }
  res.x = std::move(X);
  return res;
}

/// The Jacobi factor N with the direction of the all-ones vector shrunk: F = N P with
/// P = I + g u u^T, u = N^-1 1 / ||N^-1 1|| over the nonzero columns (x = F y, so y = u
/// moves every x_j alike) and g = min(0, 1 / sqrt(lambda) - 1), where lambda =
/// (||A 1||^2 + reg m) / ||N^-1 1||^2 (m nonzero columns) is the Rayleigh quotient of the
/// scaled normal matrix along u. Why: a design whose entries share a sign (counts,
/// indicators, intensities) is about mu 1 1^T plus zero-mean noise, so A N has one singular
/// value far above the others, along u; Jacobi alone spends a CG iteration on it, and P
/// brings it back to the bulk. P only shrinks (eigenvalues 1 + g and 1, 1 + g > 0), so F is
/// symmetric positive definite on the nonzero columns and, for a design without such a
/// direction (lambda <= 1), F = N.
class OnesShrunkJacobi {
 public:
  OnesShrunkJacobi(const Vector<double>& squared_norms, double anorm, double ones_norm_sq,
                   double reg)
      : N_(squared_norms, anorm), u_(squared_norms.cwiseMax(0.0).cwiseSqrt()) {
    const double unorm2 = u_.squaredNorm();
    const double m = static_cast<double>((squared_norms.array() > 0).count());
    const double lambda = (ones_norm_sq + reg * m) / unorm2;
    if (unorm2 > 0 && std::isfinite(lambda) && lambda > 1) {
      g_ = 1.0 / std::sqrt(lambda) - 1.0;
      u_ /= std::sqrt(unorm2);
    }
  }
  double sigma_max() const { return N_.sigma_max(); }
  double sigma_min() const { return N_.sigma_min(); }
  /// |g|: the factor's rounding beyond the diagonal's is at most |g| d eps ||F^T v||, and
  /// || |F| || <= (1 + |g|) ||N||.
  double shrink() const { return -g_; }
  RowMatrix<double> apply(const RowMatrix<double>& y) const { return N_.apply(rank_one(y)); }
  RowMatrix<double> apply_transpose(const RowMatrix<double>& g) const {
    return rank_one(N_.apply_transpose(g));
  }

 private:
  RowMatrix<double> rank_one(const RowMatrix<double>& v) const {
    if (g_ == 0) return v;
    RowMatrix<double> out = v;
    out.noalias() += (g_ * u_) * (u_.transpose() * v);
    return out;
  }
  DiagonalFactor N_;
  Vector<double> u_;
  double g_ = 0.0;
};

/// Conjugate gradients on the normal equations with the column-norm preconditioner (with
/// the all-ones direction shrunk, see OnesShrunkJacobi), from x = 0 (CGLS with Jacobi
/// scaling). No sketch and no factorisation: the first pass gives A^T b, the column norms
/// ||a_j||^2 and ||A 1||^2 together, then one fused pass per iteration.
template <typename Op>
LstsqResult diagonal_solve(const Op& op, const ConstRowMatrixRef<double>& B,
                           const LstsqOptions& o) {
  const Index d = op.cols();
  LstsqResult res;
  res.n_passes = 1;
  res.rank = d;
  RowMatrix<double> X = RowMatrix<double>::Zero(d, B.cols());
  FirstPass first;
  Vector<double> col_sq;
  op.residual(X, B, first.G, first.rsq, &col_sq);
  // NaN or inf in b shows in ||b||^2, the residual at x = 0 (a finite b whose squares
  // overflow too, hence the exact scan before the error).
  if (!first.rsq.allFinite()) NL_CHECK(B.allFinite(), "`b` must not contain NaN or inf");
  // NaN or inf in A shows in its column norms (a finite A whose squares overflow too, hence
  // the exact scan before the error).
  if (!col_sq.allFinite()) NL_CHECK(op.all_finite(), "`A` must not contain NaN or inf");
  check_magnitude(std::sqrt(col_sq.maxCoeff()));  // (a lone column below 2^-450 acts as zero)
  const OnesShrunkJacobi F(col_sq.array() + o.reg, std::sqrt(col_sq.maxCoeff() + o.reg),
                           op.ones_norm_squared(), o.reg);
  DriftBound drift;
  drift.gamma = 1.01 * kEps * static_cast<double>(op.accumulation_terms(B.cols()) + 2);
  for (Index j = 0; j < d; ++j)
    if (col_sq[j] > 0) drift.K += col_sq[j] / (col_sq[j] + o.reg);
  if (o.reg > 0) drift.K += 1.0;
  drift.K *= (1.0 + F.shrink()) * (1.0 + F.shrink());
  drift.factor_rounding = F.shrink() * static_cast<double>(d);
  iterate(op, B, F, o, X, res, &first, &drift);
  res.x = std::move(X);
  return res;
}

/// Dense QR (SVD of R when rank-deficient; SVD of A when n < d and reg = 0).
template <typename Op>
LstsqResult direct_solve(const Op& op, ColMatrix<double> A, const ConstRowMatrixRef<double>& B,
                         const LstsqOptions& o) {
  NL_CHECK(A.allFinite(), "`A` must not contain NaN or inf");
  const Index n = A.rows(), d = A.cols();
  const double rcond = resolve_rcond(o, n, d);
  // The copy scaled by a power of two when its squares would over- or underflow: x(s A) =
  // x(A) / s exactly, with the ridge weight scaled by s^2.
  const double scale = power_of_two_scale(A.cwiseAbs().maxCoeff());
  if (scale != 1.0) A *= scale;
  const double reg = o.reg * scale * scale;
  LstsqResult res;
  RowMatrix<double> X;
  if (n >= d || reg > 0) {
    RowMatrix<double> c;
    const TriangularFactor F =
        factor_and_project(augment(std::move(A), reg), augment_rhs(B, d, reg), rcond, c);
    X = F.solve(c);
    record_factor(F, res);
  } else {
    Eigen::BDCSVD<ColMatrix<double>> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Vector<double>& s = svd.singularValues();
    Index r = 0;
    while (r < s.size() && s[r] > rcond * s[0] && s[r] > 0) ++r;
    X = svd.matrixV().leftCols(r) * s.head(r).cwiseInverse().asDiagonal() *
        (svd.matrixU().leftCols(r).transpose() * B);
    res.rank = r;
    res.cond_estimate = r > 0 ? s[0] / s[r - 1] : std::numeric_limits<double>::infinity();
  }
  if (scale != 1.0) X *= scale;
  Vector<double> rsq;
  op.residual_norms(X, B, rsq);
  res.residual_norm = rsq.cwiseSqrt();
  res.n_passes = 2;
  res.x = std::move(X);
  return res;
}

/// The dense solve by method (arguments checked by the public entry point).
template <typename T, typename MatrixRef>
LstsqResult dense_impl(const MatrixRef& A, const ConstRowMatrixRef<double>& B,
                       const LstsqOptions& o) {
  const DenseOperator<T, MatrixRef> op(A);
  if (o.method == LstsqMethod::Direct)
    return direct_solve(op, A.template cast<double>(), B, o);
  if (o.method == LstsqMethod::Diagonal) return diagonal_solve(op, B, o);
  auto sketch_a = [&](const SketchSpec& spec, RowMatrix<double>* ATB) {
    RowMatrix<double> SA = as_double<T>(ATB ? sketch_dense_fused<T>(spec, A, B, *ATB)
                                            : sketch_dense<T>(spec, A));
    // A is finite (else the sketch has thrown): inf here is float overflow of finite values.
    if (!std::is_same_v<T, double> && !SA.allFinite()) throw SketchOverflow{};
    return SA;
  };
  const double nnz = static_cast<double>(A.rows()) * static_cast<double>(A.cols());
  if constexpr (std::is_same_v<T, double>) {
    auto sketch_single = [&](const SketchSpec& spec, RowMatrix<double>* ATB) {
      return ATB ? sketch_dense_single_fused(spec, A, B, *ATB) : sketch_dense_single(spec, A);
    };
    return sketched_solve(op, sketch_a, sketch_single, B, nnz, o);
  } else {  // a float A is sketched in float already
    return sketched_solve(op, sketch_a, nullptr, B, nnz, o);
  }
}

/// CSR copy of a CSC matrix (counting sort by row; column order within a row preserved),
/// with 64-bit indices. I: the index type of the input.
template <typename T, typename I>
struct CsrCopy {
  std::vector<std::int64_t> indptr, indices;
  std::vector<T> data;
  CsrArrays<T, std::int64_t> arrays;
  CsrCopy(Index n, Index d, const I* cptr, const I* cidx, const T* cdata) {
    const Index nnz = static_cast<Index>(cptr[d]);
    indptr.assign(n + 1, 0);
    indices.resize(nnz);
    data.resize(nnz);
    for (Index p = 0; p < nnz; ++p) ++indptr[cidx[p] + 1];
    for (Index i = 0; i < n; ++i) indptr[i + 1] += indptr[i];
    std::vector<std::int64_t> next(indptr.begin(), indptr.end() - 1);
    for (Index j = 0; j < d; ++j)
      for (I p = cptr[j]; p < cptr[j + 1]; ++p) {
        const std::int64_t dst = next[cidx[p]]++;
        indices[dst] = j;
        data[dst] = cdata[p];
      }
    arrays = CsrArrays<T, std::int64_t>{n, d, indptr.data(), indices.data(), data.data()};
  }
};

template <typename T, typename I>
ColMatrix<double> densify(const CsrArrays<T, I>& A) {
  ColMatrix<double> out = ColMatrix<double>::Zero(A.rows, A.cols);
  for (Index i = 0; i < A.rows; ++i)
    for (I p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
      out(i, A.indices[p]) += static_cast<double>(A.data[p]);
  return out;
}

/// A view with 64-bit indices of the same matrix for the sketch (which takes SparseView):
/// the view itself, or one widened copy of 32-bit indices.
template <typename T>
struct WideIndices {
  SparseView<T> view;
  explicit WideIndices(const SparseView<T>& A) : view(A) {}
  explicit WideIndices(const SparseView32<T>& A) {
    const Index outer = A.row_major ? A.rows : A.cols, nnz = A.nnz();
    indptr.assign(A.indptr, A.indptr + outer + 1);
    indices.resize(nnz);
    parallel_for(0, (nnz + 65535) / 65536, [&](std::int64_t c) {
      const Index end = std::min(nnz, (c + 1) * 65536);
      for (Index p = c * 65536; p < end; ++p) indices[p] = A.indices[p];
    });
    view = SparseView<T>{A.rows, A.cols, A.row_major, indptr.data(), indices.data(), A.data};
  }

 private:
  std::vector<std::int64_t> indptr, indices;
};

/// lstsq_sparse for either index width (View: SparseView<T> or SparseView32<T>; arguments
/// checked by the public entry point).
template <typename T, typename View>
LstsqResult sparse_impl(const View& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options) {
  using I = std::remove_const_t<std::remove_pointer_t<decltype(A.indices)>>;
  // The diagonal method on CSR reads A only through CsrOperator, whose passes validate the
  // structure as they go (the first pass fails on a malformed A, before any iteration);
  // everything else (the sketch, the CSC copy, the dense copy) needs it checked first.
  const bool validate_first = !(A.row_major && options.method == LstsqMethod::Diagonal);
  if (validate_first)
    check_compressed_structure<I>(A.row_major ? A.rows : A.cols, A.row_major ? A.cols : A.rows,
                                 A.indptr, A.indices, /*sorted=*/false);
  auto solve = [&](const auto& csr) {
    const CsrOperator<T, std::remove_const_t<std::remove_pointer_t<decltype(csr.indices)>>> op(
        csr, /*validated=*/validate_first);
    if (options.method == LstsqMethod::Direct) return direct_solve(op, densify(csr), B, options);
    if (options.method == LstsqMethod::Diagonal) return diagonal_solve(op, B, options);
    return sketched_solve(
        op,
        [&](const SketchSpec& spec, RowMatrix<double>*) {  // A^T B: formed by the first pass
          const WideIndices<T> wide(A);
          return as_double<T>(sketch_sparse<T>(spec, wide.view));
        },
        nullptr, B, static_cast<double>(A.nnz()), options);
  };
  if (A.row_major) return solve(CsrArrays<T, I>{A.rows, A.cols, A.indptr, A.indices, A.data});
  const CsrCopy<T, I> copy(A.rows, A.cols, A.indptr, A.indices, A.data);
  return solve(copy.arrays);
}

}  // namespace

double lstsq_default_tol() { return 4.0 * kEps; }

Index lstsq_default_sketch_size(LstsqMethod method, Index n, Index d, double nnz, double eps,
                                double tol) {
  NL_CHECK(eps > 0 && eps <= 1, "eps must be in (0, 1]; got " << eps);
  NL_CHECK(tol >= 0, "tol must be >= 0; got " << tol);
  if (method == LstsqMethod::Diagonal || method == LstsqMethod::Direct) return 0;
  if (method == LstsqMethod::Sketch) {
    const double m = std::ceil(static_cast<double>(d) / (eps * eps));
    return std::min<Index>(n, std::max<Index>(d, static_cast<Index>(std::min(m, 1e15))));
  }
  const double dd = static_cast<double>(d);
  // The iterations CG needs grow with log(1 / tol), and the best c about as its square root
  // (t in lstsq.hpp; 1e-300: a subnormal tol would make it infinite; a tol of 1 or more, 0).
  const double log_tol = std::log(std::max(tol > 0 ? tol : lstsq_default_tol(), 1e-300));
  const double depth = std::sqrt(std::max(0.0, -log_tol) / std::log(1e6));
  const double c = std::clamp(30.0 * depth * std::sqrt(nnz / (dd * dd * dd)), 4.0,
                              std::max(4.0, 20.0 * depth));
  const Index m = std::max(static_cast<Index>(std::ceil(4.0 * dd)),
                           std::min(static_cast<Index>(std::ceil(c * dd)), kSparseSignPanelRows));
  return std::min<Index>(n, m);
}

namespace {

/// dense_impl; a float A whose sketch overflows float (finite values near its limit) is
/// solved as its double copy, which the other methods' products use anyway.
template <typename T, typename MatrixRef>
LstsqResult dense_widening(const MatrixRef& A, const ConstRowMatrixRef<double>& B,
                           const LstsqOptions& options) {
  if constexpr (std::is_same_v<T, double>) {
    return dense_impl<T>(A, B, options);
  } else {
    try {
      return dense_impl<T>(A, B, options);
    } catch (const SketchOverflow&) {
      const RowMatrix<double> wide = A.template cast<double>();
      return dense_impl<double>(ConstRowMatrixRef<double>(wide), B, options);
    }
  }
}

/// dense_widening with b's columns brought into range (arguments checked by the caller).
template <typename T, typename MatrixRef>
LstsqResult dense_entry(const MatrixRef& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options) {
  return with_rhs_in_range(B, [&](const ConstRowMatrixRef<double>& Bs) {
    return dense_widening<T>(A, Bs, options);
  });
}

}  // namespace

template <typename T>
LstsqResult lstsq_dense(const ConstRowMatrixRef<T>& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options) {
  check_arguments(A.rows(), A.cols(), B, options);
  return dense_entry<T>(A, B, options);
}

template <typename T>
LstsqResult lstsq_dense(const ConstColMatrixRef<T>& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options) {
  check_arguments(A.rows(), A.cols(), B, options);
  // The iterative methods read A by rows: a wide column-major A is copied once, when memory
  // allows (see lstsq_row_major.hpp). Direct and sketch-and-solve read it in place.
  const bool iterative =
      options.method == LstsqMethod::Precondition || options.method == LstsqMethod::Diagonal;
  if (iterative && A.cols() >= lstsq_detail::kRowMajorCopyMinCols) {
    if (const std::optional<RowMatrix<T>> rows = lstsq_detail::row_major_copy(A))
      return dense_entry<T>(ConstRowMatrixRef<T>(*rows), B, options);
  }
  return dense_entry<T>(A, B, options);
}

template <typename T>
LstsqResult lstsq_sparse(const SparseView<T>& A, const ConstRowMatrixRef<double>& B,
                         const LstsqOptions& options) {
  check_arguments(A.rows, A.cols, B, options);
  return with_rhs_in_range(B, [&](const ConstRowMatrixRef<double>& Bs) {
    return sparse_impl<T>(A, Bs, options);
  });
}

template <typename T>
LstsqResult lstsq_sparse(const SparseView32<T>& A, const ConstRowMatrixRef<double>& B,
                         const LstsqOptions& options) {
  check_arguments(A.rows, A.cols, B, options);
  return with_rhs_in_range(B, [&](const ConstRowMatrixRef<double>& Bs) {
    return sparse_impl<T>(A, Bs, options);
  });
}

template LstsqResult lstsq_dense<float>(const ConstRowMatrixRef<float>&,
                                        const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_dense<double>(const ConstRowMatrixRef<double>&,
                                         const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_dense<float>(const ConstColMatrixRef<float>&,
                                        const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_dense<double>(const ConstColMatrixRef<double>&,
                                         const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_sparse<float>(const SparseView<float>&,
                                         const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_sparse<double>(const SparseView<double>&,
                                          const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_sparse<float>(const SparseView32<float>&,
                                         const ConstRowMatrixRef<double>&, const LstsqOptions&);
template LstsqResult lstsq_sparse<double>(const SparseView32<double>&,
                                          const ConstRowMatrixRef<double>&, const LstsqOptions&);

}  // namespace nearlinear

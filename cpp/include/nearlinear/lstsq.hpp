// Sketched least squares: min_x ||A x - b||^2 + reg ||x||^2 for a tall A (#n by #d, n >= d),
// dense (row- or column-major, float32 or float64) or sparse (CSR or CSC), with k right-hand
// sides solved together.
//
// Methods
//  * Precondition (Blendenpik: Avron, Maymounkov, Toledo 2010; LSRN: Meng, Saunders, Mahoney
//    2014): sketch S A (#m by #d), factor S A = Q R (SVD of R when it is numerically
//    rank-deficient; R from the Cholesky factor of (S A)^T (S A), a parallel product, when
//    cond(S A) <= 1e6, where that R is exact to 2e-4 and preconditions as well; the product
//    is formed in single precision when cond(S A) <= 100), and run
//    conjugate gradients on the normal equations of the
//    preconditioned problem min ||A N y - b||, x = N y (N = R^-1, or V_r Sigma_r^-1), warm
//    started from the sketch-and-solve solution (row-major A, one right-hand side: from it or
//    from zero, whichever has the smaller residual; the first pass evaluates both). A N has
//    singular values in
//    [1 - sqrt(d/m), 1 + sqrt(d/m)] (roughly), so CG on (A N)^T (A N) is as stable as LSQR on
//    it: the normal-equation squaring costs a factor cond(A N)^2 < 10, not cond(A)^2. Each
//    iteration reads A once: the fused pass computes A w and A^T (A w) row block by row block
//    while the block is in cache. After convergence the true residual is recomputed and CG
//    is restarted from there if the test fails (iterative refinement: Epperly, Meier,
//    Nakatsukasa 2024 show refinement makes sketch-and-precondition backward stable).
//    The confirming pass is skipped when tol exceeds the recurrences' rounding drift
//    (about iterations sqrt(n) eps cond(A)) by 1000x, reg = 0 and R has full rank: then
//    the recurrences' own test and residual norm stand (never at the default tol).
//  * Sketch (sketch-and-solve): x' = argmin ||S (A x - b)||^2 + reg ||x||^2, one pass.
//  * Direct: Householder QR of A (SVD of R when rank-deficient), O(n d^2).
//  * Diagonal: CG on the normal equations with the column-norm (Jacobi) preconditioner, from
//    x = 0; no sketch, no factorisation, one fused pass per iteration. Pays when A is already
//    well conditioned up to column scaling (random sparse designs); the solution is a
//    least-squares solution, the minimum-norm one only when A has full column rank.
//
// Precision: every product accumulates in double; float32 data is read as stored and
// widened block by block. x is always double.
//
// Rank deficiency: singular values of R (which match those of A up to the sketch's
// distortion) below rcond * sigma_max are dropped, and x is the minimum-norm solution within
// that rank, as numpy.linalg.lstsq.
#pragma once

#include <cstdint>

#include "nearlinear/common.hpp"
#include "nearlinear/sketch.hpp"

namespace nearlinear {

enum class LstsqMethod { Precondition, Sketch, Direct, Diagonal };

struct LstsqOptions {
  LstsqMethod method = LstsqMethod::Precondition;
  SketchKind sketch = SketchKind::SparseSign;
  Index sketch_size = 0;       ///< rows m of S; 0: the default of the method (see lstsq_default_sketch_size)
  int nnz_per_column = 4;      ///< sparse_sign only (4: as good a preconditioner as 8 here)
  std::uint64_t seed = 0;
  double tol = 0.0;            ///< precondition and diagonal; 0: lstsq_default_tol()
  double reg = 0.0;            ///< ridge weight, >= 0
  double rcond = -1.0;         ///< < 0: eps * max(n, d), as NumPy
  Index max_iter = 0;          ///< precondition and diagonal; 0: 200
};

struct LstsqResult {
  RowMatrix<double> x;           ///< #d by #k solution
  Vector<double> residual_norm;  ///< #k values ||A x - b|| (without the ridge term)
  Index n_iter = 0;              ///< CG iterations (0 for sketch and direct)
  Index n_passes = 0;            ///< full passes over A, including the sketch
  bool converged = true;
  Index rank = 0;                ///< numerical rank used (d when reg > 0)
  Index sketch_size = 0;         ///< rows of S (0 for direct)
  double cond_estimate = 0.0;    ///< estimate of cond(A) (of the ridge-augmented A if reg > 0)
};

/// Default tolerance of the precondition and diagonal methods: 4 eps. Calibrated on LAPACK's
/// attained accuracy, measured against x* from iterative refinement with long-double
/// residuals (Gaussian 20000x200 to 200000x200 and 20000x1000): gelsd reaches
/// ||A (x_L - x*)|| = 0.4-2.4 eps (||A|| ||x*|| + cond(A) ||r*||) and a normwise backward
/// error ||A^T r|| / (||A|| (||A|| ||x|| + ||r||)) of 0.7-3 eps, growing with d rather than n.
/// The rule ||s|| <= 4 eps (||r|| + ||A|| ||x|| + ||b||) stops at 2.1 eps (20000x200) and
/// 4.4 eps (20000x1000) in the first measure: the same order as LAPACK, about 2x looser, so a
/// looser default would fall short of LAPACK's accuracy.
double lstsq_default_tol();

/// Default sketch size.
///  * precondition: m = min(n, c d) with c = clamp(30 t sqrt(nnz / d^3), 4, 20 t) (nnz = n d
///    when dense), t = sqrt(log(1 / tol) / log(1e6)) (tol = 0: lstsq_default_tol(), t = 1.58;
///    t = 1 at tol = 1e-6), and m at most kSparseSignPanelRows (sketch.hpp) unless that is
///    below 4 d. CG's error falls by about sqrt(d / m) per pass (0.22 at c = 20, 0.5 at
///    c = 4) while the Gram matrix of S A costs m d^2 flops (single precision when S A is
///    well conditioned), so the best c solves c log^2 c ~ log(1 / tol) n / d^2 (times the
///    ratio of a pass's cost per value to the Gram product's per flop): it grows about as
///    the square root of nnz / d^3 and of the number of passes. Measured side by side (time
///    ratios against the rule before, c = clamp(60 nnz / d^3, 4, 20)): at tol = 1e-6,
///    100000 x 1000 with m = 8000-12000 0.92-0.93x (11-9 iterations instead of 13), 50000 x
///    1000 and 30000 x 1000 with c = 5-8 0.81-0.91x; at the default tol, 100000 x 1000 with
///    m = 15026 0.80x of 6000 (24 iterations instead of 36), 200000 x 200 and 100000 x 200
///    with c = 31.7 0.89-0.90x of c = 20, 50000 x 1000 and 30000 x 1000 0.80x and 0.77x,
///    100000 x 500 1.00x. The cap 20 t: at tol = 1e-6, 100000 x 500 with c = 27 took 1.08x
///    of c = 20.
///  * sketch: m = min(n, max(d, ceil(d / eps^2))), the size of a subspace embedding of
///    distortion eps without its log factor (srht caps it further at srht_padded_size(n)).
Index lstsq_default_sketch_size(LstsqMethod method, Index n, Index d, double nnz, double eps,
                                double tol = 0.0);

/// Solve for a dense A (#n by #d) and B (#n by #k). Throws std::invalid_argument on shape
/// mismatch, n < d for precondition/sketch (direct handles n < d with the minimum-norm
/// solution), reg < 0, tol < 0, bad sketch size, NaN or inf in A. A is not scanned up front:
/// a non-finite entry shows in the sketch of A (precondition, sketch), in the column norms
/// of the first pass (diagonal) or in the dense copy (direct), so the check costs nothing
/// on valid data. Cost: precondition O(sketch + m d^2 +
/// iters * n d k); sketch O(sketch + m d^2); direct O(n d^2).
template <typename T>
LstsqResult lstsq_dense(const ConstRowMatrixRef<T>& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options);
template <typename T>
LstsqResult lstsq_dense(const ConstColMatrixRef<T>& A, const ConstRowMatrixRef<double>& B,
                        const LstsqOptions& options);

/// Solve for a sparse CSR or CSC A (#n by #d). Direct densifies A (small problems only).
/// Throws std::invalid_argument as lstsq_dense, and for a malformed structure (indptr not
/// starting at 0 or decreasing, an index out of range). CSC input is copied to CSR once;
/// CSR input is read in place (precondition and sketch with 32-bit indices also make one
/// 64-bit copy of them for the sketch).
template <typename T>
LstsqResult lstsq_sparse(const SparseView<T>& A, const ConstRowMatrixRef<double>& B,
                         const LstsqOptions& options);
template <typename T>
LstsqResult lstsq_sparse(const SparseView32<T>& A, const ConstRowMatrixRef<double>& B,
                         const LstsqOptions& options);

}  // namespace nearlinear

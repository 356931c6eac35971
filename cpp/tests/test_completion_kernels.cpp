// The Gibbs row-draw kernels of completion (private header) against straightforward loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "../src/completion_gibbs_kernels.hpp"

using nearlinear::Index;
namespace detail = nearlinear::completion::detail;

namespace {

// Rows of a #n by #D matrix gathered from `rows` by idx, plus value[t] in entry d.
std::vector<double> gathered(const std::vector<double>& rows, const std::vector<std::int32_t>& idx,
                             const std::vector<double>& value, Index d, Index D) {
  std::vector<double> A(idx.size() * D);
  for (std::size_t t = 0; t < idx.size(); ++t) {
    for (Index c = 0; c < D; ++c) A[t * D + c] = rows[idx[t] * D + c];
    A[t * D + d] += value[t];
  }
  return A;
}

// (A^T A)(r, c) for r >= c by a plain triple loop.
double gram_entry(const std::vector<double>& A, Index D, Index r, Index c) {
  double s = 0.0;
  for (std::size_t t = 0; t < A.size() / D; ++t) s += A[t * D + r] * A[t * D + c];
  return s;
}

template <int kD>
void check_gather_gram(Index d, std::int64_t n, unsigned seed) {
  const Index D = kD > 0 ? kD : 12, other = 40;  // run-time width: 12
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<std::int32_t> pick(0, other - 1);
  std::vector<double> rows(other * D, 0.0), value(n);
  for (Index j = 0; j < other; ++j)
    for (Index c = 0; c <= d; ++c) rows[j * D + c] = normal(gen);
  std::vector<std::int32_t> idx(n);
  for (std::int64_t t = 0; t < n; ++t) {
    idx[t] = pick(gen);
    value[t] = normal(gen);
  }
  std::vector<double> scratch(n * D), W(D * D, 0.0);
  detail::gather_gram<kD>(rows.data(), idx.data(), value.data(), n, d, D, scratch.data(),
                          W.data());
  const std::vector<double> A = gathered(rows, idx, value, d, D);
  for (Index r = 0; r <= d; ++r)
    for (Index c = 0; c <= r; ++c)
      EXPECT_NEAR(W[r * D + c], gram_entry(A, D, r, c), 1e-12 * (1.0 + n))
          << "D " << D << " entry (" << r << ", " << c << ")";
}

}  // namespace

TEST(CompletionGibbsKernels, GatherGramMatchesTripleLoop) {
  for (std::int64_t n : {1, 2, 7, 64}) {
    check_gather_gram<4>(3, n, 1);
    check_gather_gram<8>(5, n, 2);
    check_gather_gram<12>(11, n, 3);
    check_gather_gram<12>(9, n, 4);
    check_gather_gram<16>(13, n, 5);
    check_gather_gram<0>(11, n, 6);
  }
}

#if defined(__GNUC__)
TEST(CompletionGibbsKernels, ThreePassGram12MatchesTripleLoop) {
  // The AVX2 kernel for D = 12, called directly (an AVX-512 build takes the one-pass kernel).
  std::mt19937_64 gen(9);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<std::int32_t> pick(0, 29);
  for (Index d : {8, 11}) {
    for (std::int64_t n : {1, 3, 50}) {
      std::vector<double> rows(30 * 12, 0.0), value(n);
      for (Index j = 0; j < 30; ++j)
        for (Index c = 0; c <= d; ++c) rows[j * 12 + c] = normal(gen);  // entry d: -mu - c_j
      std::vector<std::int32_t> idx(n);
      for (std::int64_t t = 0; t < n; ++t) {
        idx[t] = pick(gen);
        value[t] = normal(gen);
      }
      std::vector<double> W(144, 0.0);
      detail::gather_gram_12_three_passes(rows.data(), idx.data(), value.data(), n, d,
                                          W.data());
      const std::vector<double> A = gathered(rows, idx, value, d, 12);
      for (Index r = 0; r <= d; ++r)
        for (Index c = 0; c <= r; ++c)
          EXPECT_NEAR(W[r * 12 + c], gram_entry(A, 12, r, c), 1e-12 * (1.0 + n))
              << "d " << d << " n " << n << " entry (" << r << ", " << c << ")";
    }
  }
}
#endif

namespace {

// upper_cholesky<kD> on a random SPD G (lower triangle zero): U^T U = G and inv = 1/diag(U);
// a matrix with a negative pivot fails without a floor and factors with one.
template <int kD>
void check_upper_cholesky(Index D, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> B(D * D), G(D * D, 0.0), inv(D);
  for (double& b : B) b = normal(gen);
  for (Index r = 0; r < D; ++r)
    for (Index c = r; c < D; ++c) {
      double s = r == c ? 1.0 : 0.0;
      for (Index t = 0; t < D; ++t) s += B[t * D + r] * B[t * D + c];
      G[r * D + c] = s;
    }
  const std::vector<double> G0 = G;
  ASSERT_TRUE(detail::upper_cholesky<kD>(G.data(), D, 0.0, inv.data()));
  for (Index r = 0; r < D; ++r) {
    EXPECT_NEAR(inv[r] * G[r * D + r], 1.0, 1e-14);
    for (Index c = r; c < D; ++c) {
      double s = 0.0;  // (U^T U)(r, c) from U's upper triangle only
      for (Index t = 0; t <= r; ++t) s += G[t * D + r] * G[t * D + c];
      EXPECT_NEAR(s, G0[r * D + c], 1e-10 * std::abs(G0[r * D + r] + G0[c * D + c]))
          << "D " << D << " (" << r << ", " << c << ")";
    }
  }
  std::vector<double> bad(D * D, 0.0);
  for (Index r = 0; r < D; ++r) bad[r * D + r] = r == D - 1 ? -1.0 : 2.0;
  std::vector<double> copy = bad;
  EXPECT_FALSE(detail::upper_cholesky<kD>(copy.data(), D, 0.0, inv.data()));
  ASSERT_TRUE(detail::upper_cholesky<kD>(bad.data(), D, 1e-6, inv.data()));
  EXPECT_NEAR(bad[(D - 1) * D + D - 1], 1e-3, 1e-15);
}

}  // namespace

TEST(CompletionGibbsKernels, UpperCholeskyFactorsAndReportsBadPivots) {
  check_upper_cholesky<4>(4, 1);
  check_upper_cholesky<8>(8, 2);
  check_upper_cholesky<12>(12, 3);
  check_upper_cholesky<24>(24, 4);
  check_upper_cholesky<0>(12, 5);
  check_upper_cholesky<0>(7, 6);
}

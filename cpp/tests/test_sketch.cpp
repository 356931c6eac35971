#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "../src/fwht.hpp"
#include "../src/sketch_detail.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"
#include "nearlinear/sketch.hpp"

using namespace nearlinear;

namespace {

const SketchKind kKinds[] = {SketchKind::SparseSign, SketchKind::SRHT, SketchKind::Gaussian};

SketchSpec make_spec(SketchKind kind, Index m, Index n, std::uint64_t seed = 7, int s = 3) {
  SketchSpec spec;
  spec.kind = kind;
  spec.m = m;
  spec.n = n;
  spec.seed = seed;
  spec.nnz_per_column = s;
  return spec;
}

RowMatrix<double> random_matrix(Index n, Index d, std::uint64_t seed, double density = 1.0) {
  rng::Stream st(seed, 0);
  RowMatrix<double> A(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) A(i, j) = st.uniform() < density ? st.normal() : 0.0;
  return A;
}

/// Compressed arrays of A (CSR when row_major, else CSC), owning their storage.
struct Compressed {
  std::vector<std::int64_t> indptr, indices;
  std::vector<double> data;
  SparseView<double> view;
};

Compressed compress(const RowMatrix<double>& A, bool row_major) {
  Compressed c;
  const Index outer = row_major ? A.rows() : A.cols(), inner = row_major ? A.cols() : A.rows();
  c.indptr.push_back(0);
  for (Index o = 0; o < outer; ++o) {
    for (Index i = 0; i < inner; ++i) {
      const double v = row_major ? A(o, i) : A(i, o);
      if (v != 0.0) {
        c.indices.push_back(i);
        c.data.push_back(v);
      }
    }
    c.indptr.push_back(static_cast<std::int64_t>(c.indices.size()));
  }
  c.view = {A.rows(), A.cols(), row_major, c.indptr.data(), c.indices.data(), c.data.data()};
  return c;
}

double max_abs_diff(const RowMatrix<double>& X, const RowMatrix<double>& Y) {
  return (X - Y).cwiseAbs().maxCoeff();
}

}  // namespace

TEST(Fwht, MatchesNaiveHadamard) {
  for (Index B : {1, 2, 8, 64}) {
    const Index w = 5;
    RowMatrix<double> X = random_matrix(B, w, 3);
    RowMatrix<double> Y = X;
    sketch_detail::fwht_rows(Y.data(), B, w);
    RowMatrix<double> H(B, B);
    for (Index k = 0; k < B; ++k)
      for (Index l = 0; l < B; ++l) H(k, l) = __builtin_parityll(k & l) ? -1.0 : 1.0;
    EXPECT_LT(max_abs_diff(Y, H * X), 1e-12 * B) << "B = " << B;
  }
}

TEST(Sketch, PaddedSize) {
  EXPECT_EQ(srht_padded_size(1), 1);
  EXPECT_EQ(srht_padded_size(5), 8);
  EXPECT_EQ(srht_padded_size(1024), 1024);
  EXPECT_EQ(srht_padded_size(1025), 2048);
}

TEST(Sketch, DenseMatchesExplicitMatrixForEveryKindAndLayout) {
  // n covers a partial SRHT block, several task groups and a Gaussian block edge.
  for (SketchKind kind : kKinds) {
    for (Index n : {Index(1), Index(37), Index(300), Index(9000)}) {
      const Index m = std::min<Index>(n, 20), d = 6;
      const SketchSpec spec = make_spec(kind, m, n, 7, static_cast<int>(std::min<Index>(m, 3)));
      const RowMatrix<double> S = sketch_matrix(spec);
      const RowMatrix<double> A = random_matrix(n, d, 11);
      const RowMatrix<double> expected = S * A;
      const double tol = 1e-12 * std::sqrt(static_cast<double>(n)) * 10;
      EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, A), expected), tol);
      const ColMatrix<double> Acol = A;
      EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, Acol), expected), tol);
    }
  }
}

TEST(Sketch, SparseSignRegroupingPaths) {
  // (m, n, d, s): direct scatter (small output); regrouping with wide chunks and a padded
  // remainder (output beyond L2); several blocks of three chunks each; more output rows than
  // entries per block (sorted regrouping); several super-blocks of rows (column-major input);
  // a vector (scattered directly in either layout). Column-major inputs of several columns
  // go by panels (SparseSignColumnPanels) up to m = 16384 rows, and are regrouped above.
  const Index cases[][4] = {{20, 3000, 40, 3},  {1024, 3000, 40, 8}, {300, 5000, 70, 8},
                            {20000, 300, 3, 2}, {64, 150000, 2, 32}, {4000, 20000, 1, 8}};
  for (const auto& c : cases) {
    const SketchSpec spec = make_spec(SketchKind::SparseSign, c[0], c[1], 5, static_cast<int>(c[3]));
    const RowMatrix<double> A = random_matrix(c[1], c[2], 13);
    const RowMatrix<double> S = sketch_matrix(spec);
    const RowMatrix<double> expected = S * A;
    EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, A), expected), 1e-11) << "m = " << c[0];
    const ColMatrix<double> Acol = A;
    EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, Acol), expected), 1e-11) << "m = " << c[0];
  }
}

TEST(Sketch, SparseSignColumnPanels) {
  // Row-major A whose output exceeds L2's share goes by column panels: A starting at every
  // offset within a cache line (head panels of every width), a strided A (rows not a whole
  // number of lines apart), narrowed last panels (d = 37), few panels (row groups), float,
  // panels of one line.
  const Index m = 2000, n = 3000;
  const SketchSpec spec = make_spec(SketchKind::SparseSign, m, n, 9, 4);
  const RowMatrix<double> S = sketch_matrix(spec);
  for (Index d : {Index(37), Index(64)}) {
    const RowMatrix<double> wide = random_matrix(n, d + 9, 17);
    for (Index shift = 0; shift < 9; ++shift) {
      const RowMatrix<double> A = wide.middleCols(shift, d);
      const RowMatrix<double> expected = S * A;
      EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, A), expected), 1e-11) << shift;
      const ConstRowMatrixRef<double> strided = wide.middleCols(shift, d);
      EXPECT_LT(max_abs_diff(sketch_dense<double>(spec, strided), expected), 1e-11) << shift;
    }
    const RowMatrix<float> Af = wide.leftCols(d).cast<float>();
    const RowMatrix<double> expected = S * Af.cast<double>();
    EXPECT_LT(max_abs_diff(sketch_dense<float>(spec, Af).cast<double>(), expected),
              1e-4 * expected.cwiseAbs().maxCoeff());
    // Column-major A: the same panels through row-major tiles of 256 rows (n = 3000: a
    // partial last tile), the same sums in the same order, so the same bits.
    const RowMatrix<double> A = wide.leftCols(d);
    EXPECT_EQ(sketch_dense<double>(spec, ColMatrix<double>(A)), sketch_dense<double>(spec, A));
    EXPECT_EQ(sketch_dense<float>(spec, ColMatrix<float>(Af)), sketch_dense<float>(spec, Af));
  }
  // An output too tall for panels of two lines: panels of one.
  const SketchSpec tall = make_spec(SketchKind::SparseSign, 12000, n, 9, 2);
  const RowMatrix<double> A = random_matrix(n, 21, 19);
  EXPECT_LT(max_abs_diff(sketch_dense<double>(tall, A), sketch_matrix(tall) * A), 1e-11);
  EXPECT_EQ(sketch_dense<double>(tall, ColMatrix<double>(A)), sketch_dense<double>(tall, A));
}

TEST(Sketch, SparseMatchesDense) {
  for (SketchKind kind : kKinds) {
    const Index n = 500, d = 9, m = 16;
    const SketchSpec spec = make_spec(kind, m, n);
    const RowMatrix<double> A = random_matrix(n, d, 5, 0.2);
    const RowMatrix<double> dense = sketch_dense<double>(spec, A);
    for (bool row_major : {true, false}) {
      const Compressed c = compress(A, row_major);
      EXPECT_LT(max_abs_diff(sketch_sparse<double>(spec, c.view), dense), 1e-12);
    }
  }
}

TEST(Sketch, FloatMatchesDouble) {
  for (SketchKind kind : kKinds) {
    const SketchSpec spec = make_spec(kind, 12, 200);
    const RowMatrix<double> A = random_matrix(200, 4, 9);
    const RowMatrix<float> Af = A.cast<float>();
    const RowMatrix<double> a = sketch_dense<double>(spec, A);
    const RowMatrix<double> b = sketch_dense<float>(spec, Af).cast<double>();
    EXPECT_LT(max_abs_diff(a, b), 1e-4 * a.cwiseAbs().maxCoeff());
  }
}

TEST(Sketch, SingleWithinItsRoundingBound) {
  // Each entry of the srht in single precision is a sum of +-a_ij / sqrt(m) formed with at
  // most depth roundings of unit 2^-24: within depth 2^-24 sum_i |a_ij| / sqrt(m) of the
  // exact value (the double sketch, from the explicit S). Several blocks of rows (n > B),
  // both layouts, and a column count that leaves padding in the last chunk.
  for (Index n : {Index(3000), Index(700)}) {
    const SketchSpec spec = make_spec(SketchKind::SRHT, 100, n);
    const RowMatrix<double> A = random_matrix(n, 21, 13);
    const RowMatrix<double> exact = sketch_matrix(spec) * A;
    const double depth = static_cast<double>(srht_single_rounding_depth(n, spec.m));
    const RowMatrix<double> bound =
        (std::ldexp(depth, -24) / std::sqrt(100.0)) *
        RowMatrix<double>::Ones(spec.m, 1) * A.cwiseAbs().colwise().sum();
    const ColMatrix<double> Acol = A;
    const RowMatrix<float> row = sketch_dense_single(spec, ConstRowMatrixRef<double>(A));
    const RowMatrix<float> col = sketch_dense_single(spec, ConstColMatrixRef<double>(Acol));
    for (const RowMatrix<float>& result : {row, col}) {
      const RowMatrix<double> single = result.cast<double>();
      const RowMatrix<double> err = (single - exact).cwiseAbs();
      EXPECT_TRUE((err.array() <= bound.array()).all());
      EXPECT_GT(err.maxCoeff(), 0.0);  // it is single precision
    }
  }
  // Sparse sign by column panels (here m d 8 bytes > 256 KiB): each entry summed in float in
  // row order, one rounding per contribution after A's value is rounded, then the scale:
  // within (c + 2) 2^-24 (|S| |A|)_ij of the exact value, c the most nonzeros in a row of S.
  // The fused form gives the same S A and the double A^T V.
  {
    const Index n = 3000, d = 37;
    const SketchSpec spec = make_spec(SketchKind::SparseSign, 2000, n, 9, 4);
    const RowMatrix<double> S = sketch_matrix(spec);
    const RowMatrix<double> A = random_matrix(n, d, 14);
    const ColMatrix<double> Acol = A;
    const RowMatrix<double> exact = S * A;
    Index c = 0;
    for (Index r = 0; r < spec.m; ++r) c = std::max<Index>(c, (S.row(r).array() != 0).count());
    const RowMatrix<double> bound =
        std::ldexp(static_cast<double>(c + 2), -24) * (S.cwiseAbs() * A.cwiseAbs());
    const RowMatrix<float> row = sketch_dense_single(spec, ConstRowMatrixRef<double>(A));
    const RowMatrix<float> col = sketch_dense_single(spec, ConstColMatrixRef<double>(Acol));
    for (const RowMatrix<float>& result : {row, col}) {
      const RowMatrix<double> err = (result.cast<double>() - exact).cwiseAbs();
      EXPECT_TRUE((err.array() <= bound.array()).all());
      EXPECT_GT(err.maxCoeff(), 0.0);
    }
    EXPECT_EQ(row, col);
    const RowMatrix<double> V = random_matrix(n, 2, 15);
    RowMatrix<double> ATV, ATV_double;
    EXPECT_EQ(sketch_dense_single_fused(spec, ConstRowMatrixRef<double>(A), V, ATV), row);
    sketch_dense_fused<double>(spec, ConstRowMatrixRef<double>(A), V, ATV_double);
    EXPECT_EQ(ATV.rows(), d);
    EXPECT_TRUE(ATV == ATV_double);
  }
  // Elsewhere: the double sketch, rounded.
  const SketchSpec spec = make_spec(SketchKind::SparseSign, 40, 500);
  const RowMatrix<double> A = random_matrix(500, 5, 3);
  EXPECT_EQ(RowMatrix<float>(sketch_dense<double>(spec, A).cast<float>()),
            sketch_dense_single(spec, ConstRowMatrixRef<double>(A)));
}

TEST(Sketch, SparseSignColumnsHaveSDistinctEntries) {
  for (int s : {1, 4, 8}) {
    const SketchSpec spec = make_spec(SketchKind::SparseSign, 8, 100, 3, s);
    const RowMatrix<double> S = sketch_matrix(spec);
    for (Index j = 0; j < S.cols(); ++j) {
      int nonzeros = 0;
      for (Index i = 0; i < S.rows(); ++i) {
        if (S(i, j) != 0.0) {
          ++nonzeros;
          EXPECT_DOUBLE_EQ(std::abs(S(i, j)), 1.0 / std::sqrt(static_cast<double>(s)));
        }
      }
      EXPECT_EQ(nonzeros, s);
    }
  }
  // s = m: every row of every column.
  const RowMatrix<double> S = sketch_matrix(make_spec(SketchKind::SparseSign, 5, 10, 1, 5));
  EXPECT_EQ((S.array() != 0.0).count(), 50);
}

TEST(Sketch, SparseSignLongColumnsDrawTheSameRowsWithTheHashSet) {
  // Whether a draw was taken, by scan or by hash set: the same codes, bit for bit, and
  // s distinct rows (long columns, up to s = m).
  for (int s : {1, 3, 65, 300, 1000}) {
    const SketchSpec spec = make_spec(SketchKind::SparseSign, 1000, 50, 11, s);
    std::vector<std::uint32_t> scan(s), hashed(s);
    for (Index j = 0; j < spec.n; ++j) {
      sketch_detail::sparse_sign_column(spec, j, scan.data(), /*scan_max=*/1 << 20);
      sketch_detail::sparse_sign_column(spec, j, hashed.data(), /*scan_max=*/0);
      ASSERT_EQ(scan, hashed) << "s = " << s << ", column " << j;
      std::set<std::uint32_t> rows;
      for (std::uint32_t c : hashed) rows.insert(c & 0x7fffffffu);
      EXPECT_EQ(static_cast<int>(rows.size()), s);
      EXPECT_LT(*rows.rbegin(), 1000u);
    }
  }
}

TEST(Sketch, SparseWithFewEntriesMatchesDenseBitwise) {
  // Fewer stored entries than rows: the codes of the rows holding entries are drawn where
  // they are used (CSR per row, CSC per entry), not tabulated for every row.
  const Index n = 5000, d = 3, m = 40;
  RowMatrix<double> A = RowMatrix<double>::Zero(n, d);
  A(3, 0) = 1.5;
  A(4000, 0) = -2.0;
  A(17, 1) = 0.25;
  A(4999, 2) = 3.0;
  A(3, 2) = -1.0;
  for (int s : {1, 4, 8}) {
    const SketchSpec spec = make_spec(SketchKind::SparseSign, m, n, 5, s);
    const RowMatrix<double> reference = sketch_matrix(spec) * A;
    for (bool row_major : {true, false}) {
      const Compressed c = compress(A, row_major);
      EXPECT_LT(max_abs_diff(sketch_sparse<double>(spec, c.view), reference), 1e-15);
    }
  }
}

TEST(Sketch, SrhtIsOrthogonalWhenSquare) {
  // m = N = n: S = H D / sqrt(n) is orthogonal (all rows sampled).
  const SketchSpec spec = make_spec(SketchKind::SRHT, 64, 64);
  const RowMatrix<double> S = sketch_matrix(spec);
  EXPECT_LT(max_abs_diff(S * S.transpose(), RowMatrix<double>::Identity(64, 64)), 1e-12);
}

TEST(Sketch, GaussianEntriesHaveVarianceOneOverM) {
  const SketchSpec spec = make_spec(SketchKind::Gaussian, 100, 2000);
  const RowMatrix<double> S = sketch_matrix(spec);
  const double mean = S.mean();
  const double var = (S.array() - mean).square().mean();
  // 200000 draws: the sample mean and variance are within a few standard errors.
  EXPECT_NEAR(mean, 0.0, 5 * 0.1 / std::sqrt(2e5));
  EXPECT_NEAR(var * 100, 1.0, 5 * std::sqrt(2.0 / 2e5));
}

TEST(Sketch, SameResultOnAnyThreadCount) {
  const int before = get_num_threads();
  for (SketchKind kind : kKinds) {
    const SketchSpec spec = make_spec(kind, 64, 50000, 21, 8);
    const RowMatrix<double> A = random_matrix(50000, 3, 2);
    set_num_threads(1);
    const RowMatrix<double> one = sketch_dense<double>(spec, A);
    set_num_threads(3);
    const RowMatrix<double> three = sketch_dense<double>(spec, A);
    EXPECT_TRUE(one == three) << "kind " << static_cast<int>(kind);
  }
  set_num_threads(before);
}

TEST(Sketch, SparseSignSameResultOnAnyThreadCountWithSeveralRowGroups) {
  // (m, d, s): direct scatter (CountSketch), regrouped blocks, a vector, column panels;
  // 70000 rows make several row groups on each path.
  const Index n = 70000;
  const Index cases[][3] = {{300, 5, 1}, {512, 40, 8}, {1000, 1, 8}, {3000, 20, 4}};
  const int before = get_num_threads();
  for (const auto& c : cases) {
    const SketchSpec spec = make_spec(SketchKind::SparseSign, c[0], n, 4, static_cast<int>(c[2]));
    const RowMatrix<double> A = random_matrix(n, c[1], 3);
    const ColMatrix<double> Acol = A;
    set_num_threads(1);
    const RowMatrix<double> one = sketch_dense<double>(spec, A);
    const RowMatrix<double> one_col = sketch_dense<double>(spec, Acol);
    set_num_threads(3);
    EXPECT_TRUE(sketch_dense<double>(spec, A) == one) << "m = " << c[0];
    EXPECT_TRUE(sketch_dense<double>(spec, Acol) == one_col) << "m = " << c[0];
    EXPECT_LT(max_abs_diff(one, one_col), 1e-11) << "m = " << c[0];
  }
  set_num_threads(before);
}

TEST(Sketch, FusedProductMatchesTransposeProduct) {
  // Column panels (several row groups at n = 70000 and d = 20, one group at d = 300, a head
  // panel from an unaligned A, narrowed last panels, the column-major tiles, float): the
  // same S A as the plain sketch, bit for bit, and A^T V to rounding, on any thread count.
  const int before = get_num_threads();
  const Index cases[][3] = {{70000, 20, 3000}, {5000, 300, 2000}, {3000, 37, 12000}};
  for (const auto& c : cases) {
    const Index n = c[0], d = c[1];
    const SketchSpec spec = make_spec(SketchKind::SparseSign, c[2], n, 5, 4);
    const RowMatrix<double> wide = random_matrix(n, d + 1, 21);
    const ConstRowMatrixRef<double> A = wide.rightCols(d);  // starts 8 bytes into a line
    const RowMatrix<double> Af = A;
    for (Index k : {Index(1), Index(2)}) {
      const RowMatrix<double> V = random_matrix(n, k, 22 + k);
      const RowMatrix<double> expected = A.transpose() * V;
      const ColMatrix<double> Acol = Af;
      const double scale = expected.cwiseAbs().maxCoeff();
      RowMatrix<double> ATV, ATV_col, ATV_one;
      set_num_threads(3);
      EXPECT_EQ(sketch_dense_fused<double>(spec, A, V, ATV), sketch_dense<double>(spec, A));
      EXPECT_EQ(sketch_dense_fused<double>(spec, ConstColMatrixRef<double>(Acol), V, ATV_col),
                sketch_dense<double>(spec, ColMatrix<double>(Af)));
      ASSERT_EQ(ATV.rows(), d) << "n = " << n;
      ASSERT_EQ(ATV.cols(), k);
      EXPECT_LT(max_abs_diff(ATV, expected), 1e-12 * scale) << "n = " << n << ", k = " << k;
      EXPECT_LT(max_abs_diff(ATV_col, expected), 1e-12 * scale) << "n = " << n;
      set_num_threads(1);
      sketch_dense_fused<double>(spec, A, V, ATV_one);
      EXPECT_TRUE(ATV_one == ATV) << "n = " << n;
      const RowMatrix<float> A32 = Af.cast<float>();
      RowMatrix<double> ATV32;
      EXPECT_EQ(sketch_dense_fused<float>(spec, ConstRowMatrixRef<float>(A32), V, ATV32), sketch_dense<float>(spec, A32));
      if (c[2] * d * Index(sizeof(float)) <= (256 << 10)) {  // small enough to go by rows
        EXPECT_EQ(ATV32.size(), 0);
        continue;
      }
      ASSERT_EQ(ATV32.rows(), d);
      EXPECT_LT(max_abs_diff(ATV32, A32.cast<double>().transpose() * V), 1e-12 * scale);
    }
  }
  set_num_threads(before);
  // Elsewhere (other kinds, CountSketch, a small output, too many columns of V) nothing is
  // formed and the sketch is the plain one.
  const RowMatrix<double> A = random_matrix(4000, 30, 2);
  const RowMatrix<double> V = random_matrix(4000, 3, 3);
  const SketchSpec elsewhere[] = {make_spec(SketchKind::SRHT, 2000, 4000),
                                  make_spec(SketchKind::SparseSign, 2000, 4000, 7, 1),
                                  make_spec(SketchKind::SparseSign, 100, 4000, 7, 4)};
  for (const SketchSpec& spec : elsewhere) {
    RowMatrix<double> ATV(1, 1);
    EXPECT_EQ(sketch_dense_fused<double>(spec, ConstRowMatrixRef<double>(A), V.leftCols(1), ATV), sketch_dense<double>(spec, A));
    EXPECT_EQ(ATV.size(), 0);
  }
  RowMatrix<double> ATV(1, 1);
  sketch_dense_fused<double>(make_spec(SketchKind::SparseSign, 3000, 4000, 7, 4),
                             ConstRowMatrixRef<double>(A), V, ATV);
  EXPECT_EQ(ATV.size(), 0);
  EXPECT_THROW(sketch_dense_fused<double>(make_spec(SketchKind::SparseSign, 3000, 4000),
                                          ConstRowMatrixRef<double>(A), V.topRows(10), ATV),
               std::invalid_argument);
}

TEST(Sketch, ValidationThrows) {
  const RowMatrix<double> A = random_matrix(10, 2, 1);
  EXPECT_THROW(validate_sketch(make_spec(SketchKind::SparseSign, 0, 10)), std::invalid_argument);
  EXPECT_THROW(validate_sketch(make_spec(SketchKind::Gaussian, 5, 0)), std::invalid_argument);
  EXPECT_THROW(validate_sketch(make_spec(SketchKind::SparseSign, 4, 10, 1, 5)),
               std::invalid_argument);
  EXPECT_THROW(validate_sketch(make_spec(SketchKind::SparseSign, 4, 10, 1, 0)),
               std::invalid_argument);
  EXPECT_THROW(validate_sketch(make_spec(SketchKind::SRHT, 17, 10)), std::invalid_argument);
  EXPECT_NO_THROW(validate_sketch(make_spec(SketchKind::SRHT, 16, 10)));
  SketchSpec bad = make_spec(SketchKind::SparseSign, 4, 10);
  bad.kind = static_cast<SketchKind>(42);
  EXPECT_THROW(validate_sketch(bad), std::invalid_argument);
  // Wrong row count.
  EXPECT_THROW(sketch_dense<double>(make_spec(SketchKind::Gaussian, 3, 11), A),
               std::invalid_argument);
  // NaN and inf in the data.
  for (SketchKind kind : kKinds) {
    for (double v : {std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
      RowMatrix<double> B = A;
      B(7, 1) = v;
      EXPECT_THROW(sketch_dense<double>(make_spec(kind, 4, 10), B), std::invalid_argument);
    }
  }
  // Finite data whose sketch overflows is not an error.
  RowMatrix<double> big = RowMatrix<double>::Constant(10, 2, 1e308);
  EXPECT_NO_THROW(sketch_dense<double>(make_spec(SketchKind::SparseSign, 1, 10, 1, 1), big));
  // Malformed sparse structure.
  Compressed c = compress(A, true);
  c.indices[3] = 99;
  c.view.indices = c.indices.data();
  EXPECT_THROW(sketch_sparse<double>(make_spec(SketchKind::SparseSign, 4, 10), c.view),
               std::invalid_argument);
}

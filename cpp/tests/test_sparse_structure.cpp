#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"
#include "nearlinear/sparse_structure.hpp"

using namespace nearlinear;

namespace {

/// A random CSR structure with sorted, distinct indices per row: `rows` rows of `cols`
/// columns, some rows empty and a few long ones (so that chunks of entries start mid-row).
template <typename I>
struct Structure {
  Index rows, cols;
  std::vector<I> indptr{0}, indices;

  Structure(Index rows_, Index cols_, std::uint64_t seed) : rows(rows_), cols(cols_) {
    rng::Stream st(seed, 0);
    for (Index i = 0; i < rows; ++i) {
      const double density = i % 97 == 0 ? 0.9 : (i % 5 == 0 ? 0.0 : 0.05);
      for (Index j = 0; j < cols; ++j)
        if (st.uniform() < density) indices.push_back(static_cast<I>(j));
      indptr.push_back(static_cast<I>(indices.size()));
    }
  }
  void check(bool sorted) const {
    check_compressed_structure<I>(rows, cols, indptr.data(), indices.data(), sorted);
  }
};

/// The message of the std::invalid_argument that fn throws ("" if none).
template <class Fn>
std::string message_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

template <typename I>
void each_defect_is_found_with_threads(int threads) {
  const int saved = get_num_threads();
  set_num_threads(threads);
  Structure<I> good(3000, 2000, 11);
  ASSERT_GT(good.indices.size(), std::size_t{3} << 16);  // several chunks of entries
  EXPECT_NO_THROW(good.check(true));
  EXPECT_NO_THROW(good.check(false));

  const std::size_t middle = good.indices.size() / 2;
  auto with = [&](auto change) {
    Structure<I> s = good;
    change(s);
    return s;
  };
  struct Case {
    const char* what;
    Structure<I> s;
    bool sorted;
    const char* expected;
  };
  const Case cases[] = {
      {"indptr[0]", with([](auto& s) { s.indptr[0] = 1; }), false, "indptr must start at 0"},
      {"decreasing indptr", with([](auto& s) { s.indptr[1500] = s.indptr[1502] + 3; }), false,
       "indptr must be non-decreasing"},
      {"index too large", with([&](auto& s) { s.indices[middle] = static_cast<I>(s.cols); }),
       false, "indices must be in [0, 2000)"},
      {"negative index", with([](auto& s) { s.indices.back() = -1; }), true,
       "indices must be in [0, 2000)"},
      {"duplicate", with([&](auto& s) { s.indices[middle] = s.indices[middle - 1]; }), true,
       "sorted, without duplicates"},
  };
  for (const Case& c : cases) {
    const std::string message = message_of([&] { c.s.check(c.sorted); });
    EXPECT_NE(message.find("sparse `A` is malformed"), std::string::npos) << c.what;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
  }
  // Order within a row is only checked when asked for.
  Structure<I> swapped = good;
  Index row = 0;
  while (swapped.indptr[row + 1] - swapped.indptr[row] < 2) ++row;
  std::swap(swapped.indices[swapped.indptr[row]], swapped.indices[swapped.indptr[row] + 1]);
  EXPECT_NO_THROW(swapped.check(false));
  EXPECT_NE(message_of([&] { swapped.check(true); }).find("sorted"), std::string::npos);
  set_num_threads(saved);
}

}  // namespace

TEST(SparseStructure, EachDefectIsFoundWith32BitIndices) {
  each_defect_is_found_with_threads<std::int32_t>(1);
  each_defect_is_found_with_threads<std::int32_t>(2);
}

TEST(SparseStructure, EachDefectIsFoundWith64BitIndices) {
  each_defect_is_found_with_threads<std::int64_t>(1);
  each_defect_is_found_with_threads<std::int64_t>(2);
}

TEST(SparseStructure, DecreasingAtARowBoundaryIsNotMistakenForTheNextRow) {
  // Row 0 = {3}, row 1 = {1, 2}: sorted within each row although 1 < 3 across the boundary;
  // row 2 empty, row 3 = {0}.
  const std::vector<std::int64_t> indptr{0, 1, 3, 3, 4}, indices{3, 1, 2, 0};
  EXPECT_NO_THROW(check_compressed_structure<std::int64_t>(4, 4, indptr.data(), indices.data(),
                                                           true));
}

TEST(SparseStructure, TheFirstDefectIsReportedWhateverTheThreadCount) {
  Structure<std::int64_t> s(3000, 2000, 12);
  s.indices[10] = s.indices[9];      // unsorted, in the first chunk
  s.indices.back() = 10'000;         // outside, in the last chunk
  std::string first;
  for (const int threads : {1, 2, 3}) {
    const int saved = get_num_threads();
    set_num_threads(threads);
    const std::string message = message_of([&] { s.check(true); });
    set_num_threads(saved);
    if (first.empty()) first = message;
    EXPECT_EQ(message, first);
  }
  EXPECT_NE(first.find("sorted"), std::string::npos) << first;
}

TEST(SparseStructure, ViewChecksShapeAndArrays) {
  const std::vector<std::int64_t> indptr{0, 1, 2}, indices{0, 1};
  const std::vector<double> data{1.0, 2.0};
  SparseView<double> A{2, 2, true, indptr.data(), indices.data(), data.data()};
  EXPECT_NO_THROW(check_sparse_structure(A, true));
  SparseView<double> no_data = A;
  no_data.data = nullptr;
  EXPECT_NE(message_of([&] { check_sparse_structure(no_data, true); }).find("missing"),
            std::string::npos);
  SparseView<double> negative = A;
  negative.rows = -1;
  EXPECT_NE(message_of([&] { check_sparse_structure(negative, true, "X"); }).find("`X`"),
            std::string::npos);
}

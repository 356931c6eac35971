// Unit tests of nearlinear/memory.hpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "nearlinear/memory.hpp"

namespace nearlinear {
namespace {

TEST(Memory, HugePageAdviceKeepsContentsAndToleratesAnyRange) {
  constexpr std::size_t kCount = std::size_t{3} << 20;  // 24 MiB of doubles
  std::unique_ptr<double[]> buffer(new double[kCount]);
  for (std::size_t i = 0; i < kCount; i += 4096) buffer[i] = static_cast<double>(i);
  // Unaligned start and length, a small range, an empty one and a null pointer.
  advise_huge_pages(buffer.get() + 3, (kCount - 7) * sizeof(double));
  advise_huge_pages(buffer.get(), 100);
  advise_huge_pages(buffer.get(), 0);
  advise_huge_pages(nullptr, std::size_t{1} << 30);
  for (std::size_t i = 0; i < kCount; i += 4096) EXPECT_EQ(buffer[i], static_cast<double>(i));
  // Memory advised before its first touch is usable as usual.
  std::unique_ptr<float[]> fresh(new float[kCount]);
  advise_huge_pages(fresh.get(), kCount * sizeof(float));
  for (std::size_t i = 0; i < kCount; ++i) fresh[i] = 1.0f;
  double sum = 0;
  for (std::size_t i = 0; i < kCount; ++i) sum += fresh[i];
  EXPECT_EQ(sum, static_cast<double>(kCount));
}

}  // namespace
}  // namespace nearlinear

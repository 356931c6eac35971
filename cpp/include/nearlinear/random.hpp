// Counter-based random numbers: every draw is a pure function of (seed, stream, counter), so
// random matrices can be generated in any order, on any number of threads, with the same
// result. Used by the sketch operators, initialisations and samplers.
#pragma once

#include <cmath>
#include <cstdint>

namespace nearlinear {
namespace rng {

/// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A 64-bit random word for (seed, stream, counter).
inline std::uint64_t hash(std::uint64_t seed, std::uint64_t stream, std::uint64_t counter) {
  return mix64(mix64(mix64(seed) ^ stream) + counter * 0xd1342543de82ef95ULL);
}

/// Uniform double in [0, 1) from the top 53 bits of a word.
inline double to_unit(std::uint64_t word) { return static_cast<double>(word >> 11) * 0x1.0p-53; }

/// Uniform integer in [0, n) (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
inline std::uint64_t to_range(std::uint64_t word, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(word) * n) >> 64);
}

/// +1 or -1 from one bit of a word.
inline double to_sign(std::uint64_t word) { return (word >> 63) ? -1.0 : 1.0; }

/// Standard normal from two words (Box-Muller).
inline double to_normal(std::uint64_t w1, std::uint64_t w2) {
  const double u1 = 1.0 - to_unit(w1);  // (0, 1]
  const double u2 = to_unit(w2);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

/// A sequential generator for one stream: draws hash(seed, stream, 0), hash(..., 1), ...
class Stream {
 public:
  Stream(std::uint64_t seed, std::uint64_t stream) : seed_(seed), stream_(stream) {}
  std::uint64_t next() { return hash(seed_, stream_, counter_++); }
  double uniform() { return to_unit(next()); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  std::uint64_t below(std::uint64_t n) { return to_range(next(), n); }
  double normal() {
    const std::uint64_t a = next();
    return to_normal(a, next());
  }

 private:
  std::uint64_t seed_, stream_, counter_ = 0;
};

}  // namespace rng
}  // namespace nearlinear

// Multiresolution hash encoding: forward map, parameter and input gradients.
#include "nearlinear/encoding.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "encoding_cells.hpp"
#include "nearlinear/memory.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace {

using encoding_detail::CellGroup;
using encoding_detail::CubeCell;
using encoding_detail::Level;
using encoding_detail::SimplexCell;

constexpr double kMaxAxisVertices = 16777216.0;  // 2^24: float32 coordinates stay exact
constexpr std::int64_t kPointBlock = 512;         // fewest points per task of the forward loops

/// A table row of two features moved as one 8-byte unit: sum += w * row (gather) and
/// row += w * grad (scatter) with the same products and sums as the per-feature loops (so the
/// same bits), but one load and one store per row instead of two each. The scatter is bound
/// by these read-modify-writes of rows missing the cache.
#if defined(__SSE2__)
struct FeaturePair {
  __m128 v;
  static FeaturePair zero() { return {_mm_setzero_ps()}; }
  static FeaturePair load(const float* p) {
    return {_mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(p))};
  }
  void store(float* p) const { _mm_storel_pi(reinterpret_cast<__m64*>(p), v); }
  FeaturePair plus_scaled(float w, FeaturePair x) const {
    return {_mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(w), x.v))};
  }
};
#else
struct FeaturePair {
  float v[2];
  static FeaturePair zero() { return {{0.0f, 0.0f}}; }
  static FeaturePair load(const float* p) { return {{p[0], p[1]}}; }
  void store(float* p) const {
    p[0] = v[0];
    p[1] = v[1];
  }
  FeaturePair plus_scaled(float w, FeaturePair x) const {
    return {{v[0] + w * x.v[0], v[1] + w * x.v[1]}};
  }
};
#endif

/// Hint the cache about the table rows of point g of a located group.
template <class Group>
void prefetch_point(const Group& cells, int g, const float* table, int F, bool for_write) {
  for (int k = 0; k < cells.count(); ++k)
    encoding_detail::prefetch_row(table + static_cast<std::int64_t>(cells.row(g, k)) * F,
                                  for_write);
}

/// Hint the cache about the table rows of the first size points of a located group.
template <class Group>
void prefetch_group(const Group& cells, int size, const float* table, int F, bool for_write) {
  for (int g = 0; g < size; ++g) prefetch_point(cells, g, table, F, for_write);
}

/// Visit the points [begin, end) of one level in groups of Group::kSize: visit(cells, first,
/// size, ahead) sees a located group and must call ahead(g) before it reads the rows of its
/// point g. Software-pipelined: the next group is located before the current one is
/// visited, and ahead(g) requests the rows of the next group's point g, so the table reads
/// (cache misses: a level's table is larger than L2) of one group overlap with the work on
/// the previous one; spreading the requests over the points keeps few of them in flight at a
/// time instead of a burst of a whole group's, which overflowed the outstanding-miss queue.
template <class Group, class Visit>
void for_each_group(Group (&cells)[2], const float* xs, int dims, Index begin, Index end,
                    const Level& level, const float* table, int F, bool for_write, Visit&& visit) {
  if (begin >= end) return;
  auto locate = [&](Group& group, Index first) {
    const int size = static_cast<int>(std::min<Index>(Group::kSize, end - first));
    group.locate(xs + first * dims, size, level);
    return size;
  };
  if constexpr (!Group::kPipelined) {
    for (Index first = begin; first < end; first += Group::kSize) {
      const int size = locate(cells[0], first);
      prefetch_group(cells[0], size, table, F, for_write);
      visit(cells[0], first, size, [](int) {});
    }
    return;
  }
  int current = 0;
  int size = locate(cells[current], begin);
  prefetch_group(cells[current], size, table, F, for_write);
  for (Index first = begin; first < end; first += Group::kSize) {
    const Index next = first + Group::kSize;
    const int next_size = next < end ? locate(cells[1 - current], next) : 0;
    const Group& ahead_group = cells[1 - current];
    if constexpr (Group::kInterleaved) {
      visit(cells[current], first, size, [&](int g) {
        if (g < next_size) prefetch_point(ahead_group, g, table, F, for_write);
      });
    } else {
      prefetch_group(ahead_group, next_size, table, F, for_write);
      visit(cells[current], first, size, [](int) {});
    }
    current = 1 - current;
    size = next_size;
  }
}

/// Scratch kinds (memory.hpp's ThreadScratch): a forward block's level-major features, and
/// backward's level-major copy of grad_output.
struct StageTag {};
struct LevelMajorTag {};
using StageScratch = ThreadScratch<float, StageTag>;
using LevelMajorScratch = ThreadScratch<float, LevelMajorTag>;

/// Points per task of the forward pass. Inside a block the loop is level-outer, so the larger
/// the block, the more reads hit a level's table rows while they are still in cache; but at
/// least one block per thread. (With 2^18 points in 6-D, blocks of 2^16 points instead of 512
/// made the forward 2.7x faster on the cube lattice and 1.3x on the simplex; 2^18 instead of
/// 2^16 another 1.1-1.2x on both, 2^13 instead of 2^16 made both slower.)
std::int64_t forward_block_size(Index n_points) {
  constexpr std::int64_t kLargest = std::int64_t{1} << 18;
  const std::int64_t per_thread = (n_points + get_num_threads() - 1) / get_num_threads();
  return std::max<std::int64_t>(kPointBlock, std::min<std::int64_t>(kLargest, per_thread));
}

double simplex_skew(int n) { return (std::sqrt(n + 1.0) - 1.0) / n; }

/// Vertices per axis of a level's box (see encoding.hpp).
double axis_vertices(const HashGridConfig& c, int resolution) {
  if (c.lattice == Lattice::Cube) return resolution + 1.0;
  return std::floor(resolution * std::sqrt(c.n_dims + 1.0)) + 2.0;
}

int level_resolution(const HashGridConfig& c, int l) {
  return static_cast<int>(std::floor(c.base_resolution * std::pow(c.per_level_scale, l)));
}

/// Row starts of a simplex level of resolution N and R vertices per axis (see encoding.hpp):
/// one per row of the box (v_1 .. v_{n-1}), row-major with axis 1 fastest; false when the
/// rows or their vertices do not fit in table rows (the level is then hashed).
bool simplex_row_starts(int n, int resolution, std::int64_t R, std::int64_t table,
                        std::vector<std::uint32_t>& starts) {
  const double box_rows = std::pow(static_cast<double>(R), n - 1);
  if (box_rows > static_cast<double>(table)) return false;
  const std::int64_t rows = static_cast<std::int64_t>(box_rows);
  starts.assign(static_cast<std::size_t>(rows), 0);
  const double N = resolution;
  const double G = (1.0 - 1.0 / std::sqrt(n + 1.0)) / n;  // the unskew: u = s - G sum(s)
  std::vector<std::int64_t> v(std::max(n, 1), 0);          // v[1 .. n-1]: the row
  std::int64_t total = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    // u_0 = (1 - G) s_0 - G t and u_j = s_j - G s_0 - G t (t = s_1 + ... + s_{n-1}) lie in
    // [0, N]: s_0 >= G t / (1 - G), s_0 >= (s_j - G t - N) / G, s_0 <= (N + G t) / (1 - G),
    // s_0 <= (s_j - G t) / G; each bound at its extreme over v_i - 1 <= s_i <= v_i + 1.
    std::int64_t sum_low = 0, sum_high = 0;
    for (int i = 1; i < n; ++i) {
      sum_low += v[i] - 1;
      sum_high += v[i] + 1;
    }
    double low = G * static_cast<double>(sum_low) / (1.0 - G);
    double high = (N + G * static_cast<double>(sum_high)) / (1.0 - G);
    for (int j = 1; j < n; ++j) {
      const double low_j = (static_cast<double>(v[j] - 1) -
                            G * static_cast<double>(sum_high - 2) - N) / G;
      const double high_j = (static_cast<double>(v[j] + 1) -
                             G * static_cast<double>(sum_low + 2)) / G;
      low = std::max(low, low_j);
      high = std::min(high, high_j);
    }
    // Vertex v_0 is floor(s_0) or floor(s_0) + 1; one more on each side against rounding.
    const std::int64_t first =
        std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(low)) - 1);
    const std::int64_t last =
        std::min<std::int64_t>(R - 1, static_cast<std::int64_t>(std::floor(high)) + 2);
    starts[r] = static_cast<std::uint32_t>(total - first);  // modulo 2^32
    total += std::max<std::int64_t>(0, last - first + 1);
    if (total > table) return false;
    for (int i = 1; i < n && ++v[i] == R; ++i) v[i] = 0;
  }
  return true;
}

std::shared_ptr<const encoding_detail::LevelTables> make_levels(const HashGridConfig& c) {
  const std::int64_t table = std::int64_t{1} << c.log2_table_size;
  auto tables = std::make_shared<encoding_detail::LevelTables>();
  std::vector<Level>& levels = tables->level;
  levels.resize(c.n_levels);
  tables->row_starts.resize(c.n_levels);
  for (int l = 0; l < c.n_levels; ++l) {
    Level& level = levels[l];
    const int resolution = level_resolution(c, l);
    const double extent = axis_vertices(c, resolution);
    level.scale = static_cast<float>(resolution);
    level.max_base = static_cast<std::int32_t>(extent) - 2;
    level.mask = static_cast<std::uint32_t>(table - 1);
    if (c.lattice == Lattice::Cube) {
      level.dense = std::pow(extent, c.n_dims) <= static_cast<double>(table);
    } else {
      level.skew = static_cast<float>(simplex_skew(c.n_dims));
      std::vector<std::uint32_t>& starts = tables->row_starts[l];
      level.dense = simplex_row_starts(c.n_dims, resolution, static_cast<std::int64_t>(extent),
                                       table, starts);
      if (level.dense) {
        level.row_start = starts.data();
      } else {
        starts.clear();
        starts.shrink_to_fit();
      }
    }
    // Dense strides, row-major over the vertex box (cube) or over its rows (simplex: axis 0
    // runs along a row and has none).
    const int first_axis = c.lattice == Lattice::Cube ? 0 : 1;
    std::uint32_t stride = 1;
    for (int i = first_axis; i < c.n_dims && level.dense; ++i) {
      level.stride[i] = stride;
      stride *= static_cast<std::uint32_t>(extent);
    }
  }
  return tables;
}

template <class T>
struct Tag {
  using type = T;
};
struct SimplexTemplate {
  template <int D>
  using type = SimplexCell<D>;
};
struct CubeTemplate {
  template <int D>
  using type = CubeCell<D>;
};

/// Call fn(Tag<Cell>{}, std::integral_constant<int, F>{}) with the cell type of the lattice,
/// the dimension fixed at compile time for n <= 8, and F fixed for the common F = 2 (0 means
/// "read it at run time").
template <class Fn>
void dispatch(const HashGridConfig& c, Fn&& fn) {
  auto with_features = [&](auto tag) {
    if (c.features_per_level == 2)
      fn(tag, std::integral_constant<int, 2>{});
    else
      fn(tag, std::integral_constant<int, 0>{});
  };
  auto with_dims = [&](auto cell_template) {
    using Template = decltype(cell_template);
    switch (c.n_dims) {
      case 1: return with_features(Tag<typename Template::template type<1>>{});
      case 2: return with_features(Tag<typename Template::template type<2>>{});
      case 3: return with_features(Tag<typename Template::template type<3>>{});
      case 4: return with_features(Tag<typename Template::template type<4>>{});
      case 5: return with_features(Tag<typename Template::template type<5>>{});
      case 6: return with_features(Tag<typename Template::template type<6>>{});
      case 7: return with_features(Tag<typename Template::template type<7>>{});
      case 8: return with_features(Tag<typename Template::template type<8>>{});
      default: return with_features(Tag<typename Template::template type<0>>{});
    }
  };
  if (c.lattice == Lattice::Simplex)
    with_dims(SimplexTemplate{});
  else
    with_dims(CubeTemplate{});
}

/// The level-outer loop of forward and backward_input: points in blocks, one block per task;
/// inside a block level by level, which keeps one level's table rows hot in cache; within a
/// level, points in small groups whose rows are all prefetched before any is read, so the
/// cache misses of a group overlap. Per block: state = start(begin, end) before its levels,
/// body(state, group, first, size, l, level_table, ahead) once per group (ahead as in
/// for_each_group), finish(state, begin, end) after its levels.
template <class Cell, class Start, class Body, class Finish>
void for_block_level_groups(const float* xs, int dims, Index n_points,
                            const std::vector<Level>& levels, const float* table_data,
                            Index table, int F, Start&& start, Body&& body, Finish&& finish) {
  const std::int64_t block_size = forward_block_size(n_points);
  const std::int64_t blocks = (n_points + block_size - 1) / block_size;
  const int n_levels = static_cast<int>(levels.size());
  parallel_for(0, blocks, [&](std::int64_t block) {
    const Index begin = block * block_size, end = std::min(n_points, begin + block_size);
    auto state = start(begin, end);
    using Group = CellGroup<Cell>;
    Group cells[2] = {Group(dims), Group(dims)};
    for (int l = 0; l < n_levels; ++l) {
      const float* level_table = table_data + l * table * F;
      for_each_group(cells, xs, dims, begin, end, levels[l], level_table, F, false,
                     [&](const Group& group, Index first, int size, auto&& ahead) {
                       body(state, group, first, size, l, level_table, ahead);
                     });
    }
    finish(state, begin, end);
  });
}

}  // namespace

HashGrid::HashGrid(const HashGridConfig& c) : config_(c) {
  const int max_dims = c.lattice == Lattice::Cube ? kMaxCubeDims : kMaxSimplexDims;
  NL_CHECK(c.n_dims >= 1 && c.n_dims <= max_dims,
           "n_dims must be in 1.." << max_dims << " for this lattice; got " << c.n_dims);
  NL_CHECK(c.n_levels >= 1 && c.n_levels <= 64, "n_levels must be in 1..64; got " << c.n_levels);
  const int f = c.features_per_level;
  NL_CHECK(f == 1 || f == 2 || f == 4 || f == 8,
           "features_per_level must be 1, 2, 4 or 8; got " << f);
  NL_CHECK(c.log2_table_size >= 1 && c.log2_table_size <= 30,
           "log2_table_size must be in 1..30; got " << c.log2_table_size);
  NL_CHECK(c.base_resolution >= 1, "base_resolution must be >= 1; got " << c.base_resolution);
  NL_CHECK(std::isfinite(c.per_level_scale) && c.per_level_scale >= 1.0,
           "`per_level_scale` must be a finite number >= 1; got " << c.per_level_scale);
  const double finest = c.base_resolution * std::pow(c.per_level_scale, c.n_levels - 1);
  NL_CHECK(std::isfinite(finest) && axis_vertices(c, static_cast<int>(std::min(finest, 1e9))) <=
                                        kMaxAxisVertices,
           "the finest level's resolution (" << finest << ") is too fine for float32 inputs: "
           "lower `base_resolution`, `per_level_scale` or `n_levels`");
  levels_ = make_levels(config_);
}

std::vector<int> HashGrid::resolutions() const {
  std::vector<int> out(config_.n_levels);
  for (int l = 0; l < config_.n_levels; ++l) out[l] = level_resolution(config_, l);
  return out;
}

std::vector<bool> HashGrid::dense_levels() const {
  std::vector<bool> out;
  for (const Level& level : levels_->level) out.push_back(level.dense);
  return out;
}

void HashGrid::check_shapes(ConstRowMatrixRef<float> x, Index params_rows,
                            Index params_cols) const {
  NL_CHECK(x.cols() == config_.n_dims,
           "x must have n_dims = " << config_.n_dims << " columns; got " << x.cols());
  NL_CHECK(params_rows == param_rows() && params_cols == config_.features_per_level,
           "params must have shape (" << param_rows() << ", " << config_.features_per_level
                                      << "); got (" << params_rows << ", " << params_cols << ")");
}

void HashGrid::init_params(RowMatrixRef<float> params, std::uint64_t seed) const {
  NL_CHECK(params.rows() == param_rows() && params.cols() == config_.features_per_level,
           "params must have shape (" << param_rows() << ", " << config_.features_per_level
                                      << ")");
  const Index cols = params.cols();
  parallel_for(0, params.rows(), [&](std::int64_t r) {
    for (Index j = 0; j < cols; ++j) {
      const double u = rng::to_unit(rng::hash(seed, 0, static_cast<std::uint64_t>(r * cols + j)));
      params(r, j) = static_cast<float>((2.0 * u - 1.0) * 1e-4);
    }
  });
}

void HashGrid::forward(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> params,
                       RowMatrixRef<float> out) const {
  check_shapes(x, params.rows(), params.cols());
  NL_CHECK(out.rows() == x.rows() && out.cols() == output_dims(),
           "out must have shape (" << x.rows() << ", " << output_dims() << ")");
  const std::vector<Level>& levels = levels_->level;
  const Index n_points = x.rows(), table = table_size();
  const int dims = config_.n_dims, out_cols = output_dims();
  const float* xs = x.data();
  const float* table_data = params.data();
  float* out_data = out.data();
  dispatch(config_, [&](auto tag, auto features) {
    using Cell = typename decltype(tag)::type;
    constexpr int FC = decltype(features)::value;
    const int F = FC > 0 ? FC : config_.features_per_level;
    // Each level's features go first to a level-major buffer, written in order, and the block
    // is transposed into `out` once after its last level: written straight into `out`, every
    // level would come back to each point's output row, a cache miss per point and level once
    // a block's rows outgrow the cache (the same for both lattices).
    struct Stage {
      Index begin, points;
      StageScratch features;  // [level][point - begin][feature]
    };
    for_block_level_groups<Cell>(
        xs, dims, n_points, levels, table_data, table, F,
        [&](Index begin, Index end) {
          return Stage{begin, end - begin,
                       StageScratch(static_cast<std::size_t>((end - begin) * out_cols))};
        },
        [&](Stage& stage, const CellGroup<Cell>& group, Index first, int size, int l,
            const float* level_table, auto&& ahead) {
          float* o = stage.features.data() + (l * stage.points + first - stage.begin) * F;
          if constexpr (FC == 2) {
            for (int g = 0; g < size; ++g, o += 2) {
              ahead(g);
              FeaturePair acc = FeaturePair::zero();
              for (int k = 0; k < group.count(); ++k)
                acc = acc.plus_scaled(group.weight(g, k),
                                      FeaturePair::load(level_table + std::int64_t{2} *
                                                                          group.row(g, k)));
              acc.store(o);
            }
            return;
          }
          for (int g = 0; g < size; ++g, o += F) {
            ahead(g);
            float acc[8] = {};
            for (int k = 0; k < group.count(); ++k) {
              const float* r = level_table + static_cast<std::int64_t>(group.row(g, k)) * F;
              for (int j = 0; j < F; ++j) acc[j] += group.weight(g, k) * r[j];
            }
            for (int j = 0; j < F; ++j) o[j] = acc[j];
          }
        },
        [&](Stage& stage, Index begin, Index end) {
          const int n_levels = config_.n_levels;
          for (Index p = begin; p < end; ++p) {
            float* o = out_data + p * out_cols;
            const float* from = stage.features.data() + (p - begin) * F;
            for (int l = 0; l < n_levels; ++l)
              for (int j = 0; j < F; ++j) o[l * F + j] = from[l * stage.points * F + j];
          }
        });
  });
}

namespace {

/// grad_output (#n_points by n_levels * F) level-major: [level][point][feature], so that the
/// scatter of one level reads its slice in order instead of F floats from every output row
/// (a cache line per point and level once the rows outgrow the cache; both lattices). With
/// max_abs, also max |grad_output| while the chunk is in cache, or NaN if an entry is NaN or
/// inf (the checks of backward_params, for the price of a pass over a chunk in L2).
LevelMajorScratch level_major(const HashGridConfig& c, ConstRowMatrixRef<float> grad_output,
                              float* max_abs = nullptr) {
  const Index n_points = grad_output.rows();
  const int F = c.features_per_level, n_levels = c.n_levels;
  LevelMajorScratch out(static_cast<std::size_t>(n_points * n_levels * F));
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (n_points + kChunk - 1) / kChunk;
  std::vector<float> chunk_max(max_abs ? static_cast<std::size_t>(chunks) : 0, 0.0f);
  parallel_for(0, chunks, [&](std::int64_t chunk) {
    const Index begin = chunk * kChunk, end = std::min<Index>(n_points, begin + kChunk);
    for (int l = 0; l < n_levels; ++l) {
      float* to = out.data() + (l * n_points + begin) * F;
      for (Index p = begin; p < end; ++p, to += F)
        for (int j = 0; j < F; ++j) to[j] = grad_output(p, l * F + j);
    }
    if (!max_abs) return;
    // NaN compares false, so it never enters m: NaN and inf are counted in `bad` instead
    // (both fail |v| <= max); branch-free, so the loop vectorises.
    float m = 0.0f;
    Index bad = 0;
    const float* from = out.data();
    for (int l = 0; l < n_levels; ++l) {
      const float* v = from + (l * n_points + begin) * F;
      for (Index i = 0; i < (end - begin) * F; ++i) {
        const float a = std::fabs(v[i]);
        m = a > m ? a : m;
        bad += !(a <= std::numeric_limits<float>::max());
      }
    }
    chunk_max[chunk] = bad ? std::numeric_limits<float>::quiet_NaN() : m;
  });
  if (max_abs) {
    *max_abs = 0.0f;
    for (const float m : chunk_max) {
      if (std::isnan(m)) {
        *max_abs = m;
        break;
      }
      *max_abs = std::max(*max_abs, m);
    }
  }
  return out;
}

/// Scatter weight * grad_output into the table of one level for every point; level_grad_output
/// is the level's slice of level_major(grad_output). `visit(row)` is called for each row
/// written. Runs on one thread: the caller partitions by level.
template <class Cell, int FC, class Visit>
void scatter_level(const HashGridConfig& c, const Level& level, const float* xs, Index n_points,
                   const float* level_grad_output, float* level_grad, Visit&& visit) {
  const int F = FC > 0 ? FC : c.features_per_level;
  using Group = CellGroup<Cell>;
  Group cells[2] = {Group(c.n_dims), Group(c.n_dims)};
  for_each_group(cells, xs, c.n_dims, 0, n_points, level, level_grad, F, true,
                 [&](const Group& group, Index first, int size, auto&& ahead) {
                   if constexpr (FC == 2) {
                     for (int g = 0; g < size; ++g) {
                       ahead(g);
                       const FeaturePair grad =
                           FeaturePair::load(level_grad_output + (first + g) * 2);
                       for (int k = 0; k < group.count(); ++k) {
                         const std::uint32_t row = group.row(g, k);
                         float* r = level_grad + std::int64_t{2} * row;
                         FeaturePair::load(r).plus_scaled(group.weight(g, k), grad).store(r);
                         visit(row);
                       }
                     }
                     return;
                   }
                   for (int g = 0; g < size; ++g) {
                     ahead(g);
                     const float* grad = level_grad_output + (first + g) * F;
                     for (int k = 0; k < group.count(); ++k) {
                       const std::uint32_t row = group.row(g, k);
                       float* r = level_grad + static_cast<std::int64_t>(row) * F;
                       for (int j = 0; j < F; ++j) r[j] += group.weight(g, k) * grad[j];
                       visit(row);
                     }
                   }
                 });
}

}  // namespace

void HashGrid::backward_params(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> grad_output,
                               RowMatrixRef<float> grad_params) const {
  check_shapes(x, grad_params.rows(), grad_params.cols());
  NL_CHECK(grad_output.rows() == x.rows() && grad_output.cols() == output_dims(),
           "grad_output must have shape (" << x.rows() << ", " << output_dims() << "); got ("
                                           << grad_output.rows() << ", " << grad_output.cols()
                                           << ")");
  const std::vector<Level>& levels = levels_->level;
  const std::int64_t level_size = table_size() * config_.features_per_level;
  float max_abs = 0.0f;
  const LevelMajorScratch grads = level_major(config_, grad_output, &max_abs);
  NL_CHECK(!std::isnan(max_abs), "`grad_output` must not contain NaN or inf");
  // A point's weights on a level sum to 1, so no entry can exceed N max|grad_output|: only
  // beyond float32's range is a level's result scanned for overflow.
  const bool may_overflow = static_cast<double>(x.rows()) * static_cast<double>(max_abs) >
                            static_cast<double>(std::numeric_limits<float>::max());
  std::vector<char> overflowed(static_cast<std::size_t>(config_.n_levels), 0);
  dispatch(config_, [&](auto tag, auto features) {
    using Cell = typename decltype(tag)::type;
    constexpr int FC = decltype(features)::value;
    parallel_for(
        0, config_.n_levels,
        [&](std::int64_t l) {
          float* level_grad = grad_params.data() + l * level_size;
          std::memset(level_grad, 0, sizeof(float) * level_size);
          scatter_level<Cell, FC>(config_, levels[l], x.data(), x.rows(),
                                  grads.data() + l * x.rows() * config_.features_per_level,
                                  level_grad, [](std::uint32_t) {});
          if (may_overflow) {
            const Eigen::Map<const Eigen::VectorXf> written(level_grad, level_size);
            overflowed[l] = !written.allFinite();
          }
        },
        Schedule::Dynamic, 1);
  });
  NL_CHECK(std::none_of(overflowed.begin(), overflowed.end(), [](char o) { return o != 0; }),
           "`grad_output` is so large that the parameter gradient overflows float32 (its sums "
           "over points exceed 3.4e38); scale `grad_output` down");
}

void HashGrid::accumulate_param_gradient(ConstRowMatrixRef<float> x,
                                         ConstRowMatrixRef<float> grad_output,
                                         RowMatrixRef<float> grad_params,
                                         std::vector<std::uint32_t>& row_end,
                                         std::vector<std::uint8_t>& flags) const {
  check_shapes(x, grad_params.rows(), grad_params.cols());
  NL_CHECK(grad_output.rows() == x.rows() && grad_output.cols() == output_dims(),
           "grad_output must have shape (" << x.rows() << ", " << output_dims() << ")");
  NL_CHECK(static_cast<int>(row_end.size()) == config_.n_levels &&
               static_cast<std::int64_t>(flags.size()) == param_rows(),
           "row_end must have n_levels entries and flags param_rows entries");
  const std::vector<Level>& levels = levels_->level;
  const std::int64_t table = table_size();
  const std::int64_t level_size = table * config_.features_per_level;
  const LevelMajorScratch grads = level_major(config_, grad_output);
  dispatch(config_, [&](auto tag, auto features) {
    using Cell = typename decltype(tag)::type;
    constexpr int FC = decltype(features)::value;
    parallel_for(
        0, config_.n_levels,
        [&](std::int64_t l) {
          std::uint8_t* level_flags = flags.data() + l * table;
          std::uint32_t end = row_end[l];
          // Flag and bound without a branch: whether a row was already flagged is as good as
          // random, and a mispredicted branch per vertex cost more than the stores.
          scatter_level<Cell, FC>(config_, levels[l], x.data(), x.rows(),
                                  grads.data() + l * x.rows() * config_.features_per_level,
                                  grad_params.data() + l * level_size,
                                  [&](std::uint32_t row) {
                                    level_flags[row] = 1;
                                    end = std::max(end, row + 1);
                                  });
          row_end[l] = end;
        },
        Schedule::Dynamic, 1);
  });
}

void HashGrid::backward_input(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> params,
                              ConstRowMatrixRef<float> grad_output,
                              RowMatrixRef<float> grad_x) const {
  check_shapes(x, params.rows(), params.cols());
  NL_CHECK(grad_output.rows() == x.rows() && grad_output.cols() == output_dims(),
           "grad_output must have shape (" << x.rows() << ", " << output_dims() << ")");
  NL_CHECK(grad_x.rows() == x.rows() && grad_x.cols() == x.cols(),
           "grad_x must have the shape of x");
  const std::vector<Level>& levels = levels_->level;
  const Index n_points = x.rows(), table = table_size();
  const int dims = config_.n_dims;
  const LevelMajorScratch grads = level_major(config_, grad_output);
  dispatch(config_, [&](auto tag, auto features) {
    using Cell = typename decltype(tag)::type;
    constexpr int FC = decltype(features)::value;
    const int F = FC > 0 ? FC : config_.features_per_level;
    float* gx = grad_x.data();
    for_block_level_groups<Cell>(
        x.data(), dims, n_points, levels, params.data(), table, F,
        [&](Index begin, Index end) {
          std::fill(gx + begin * dims, gx + end * dims, 0.0f);
          return 0;  // no state
        },
        [&](int, const CellGroup<Cell>& group, Index first, int size, int l,
            const float* level_table, auto&& ahead) {
          const Level& level = levels[l];
          float value[Cell::kVertices];
          for (int g = 0; g < size; ++g) {
            ahead(g);
            const float* grad = grads.data() + (l * n_points + first + g) * F;
            for (int k = 0; k < group.count(); ++k) {
              const float* r = level_table + static_cast<std::int64_t>(group.row(g, k)) * F;
              float dot = 0.0f;
              for (int j = 0; j < F; ++j) dot += r[j] * grad[j];
              value[k] = dot;
            }
            group.add_input_gradient(g, value, level, gx + (first + g) * dims);
          }
        },
        [](int, Index, Index) {});
  });
}

}  // namespace nearlinear

// Multiresolution hash encoding (Müller, Evans, Schied, Keller 2022, "Instant Neural Graphics
// Primitives with a Multiresolution Hash Encoding") on two lattices:
//
// * Lattice::Cube: instant-ngp's grid; a point interpolates the 2^n corners of its cube
//   d-linearly.
// * Lattice::Simplex: the simplex lattice of Wen and Yang (2023), "Efficient Encoding of
//   Graphics Primitives with Simplex-based Structures"; a point interpolates the n+1 vertices
//   of its simplex with barycentric weights, so the cost grows linearly with n.
//
// Geometry of a level l with resolution N_l = floor(base_resolution * per_level_scale^l):
// a point x in [0, 1]^n is scaled to u = N_l x.
//
// Cube: the vertices are the integer points 0..N_l on each axis ((N_l + 1)^n of them); the
// cell is b = floor(u) (clamped to N_l - 1), f = u - b, and corner c in {0,1}^n has weight
// prod_i (c_i ? f_i : 1 - f_i).
//
// Simplex: u is skewed to s = u + F_n * sum(u) with F_n = (sqrt(n+1) - 1) / n, the skew of
// simplex noise (Perlin 2001; Gustavson 2005), and the integer grid in s is cut into the
// n! simplices of the Freudenthal-Kuhn triangulation: with b = floor(s), f = s - b and the
// axes sorted so that f_p(0) >= f_p(1) >= ... >= f_p(n-1), the simplex has the vertices
// v_0 = b, v_k = v_{k-1} + e_p(k-1) (k = 1..n) and the barycentric weights
// w_0 = 1 - f_p(0), w_k = f_p(k-1) - f_p(k), w_n = f_p(n-1). Mapped back to u by the unskew
// u = s - G_n sum(s), G_n = (1 - 1/sqrt(n+1)) / n, these simplices are all congruent; the edge
// joining v_j and v_k (m = |k - j| steps) has squared length m (n + 1 - m) / (n + 1) cell
// widths, so in 2D they are equilateral (edge sqrt(2/3)) and in every n the ratio of longest
// to shortest edge is at most (n + 1) / (2 sqrt(n)) (1.59 in 8D), where the unskewed Kuhn
// triangulation of the cube grid has sqrt(n) (2.83 in 8D).
// The interpolation is continuous (neighbouring simplices share a face and its vertices) and
// exact for functions that are affine in x.
//
// Vertex density: the skew is the linear map S = I + F_n 1 1^T with det S = 1 + n F_n =
// sqrt(n+1), so a simplex level has sqrt(n+1) times as many vertices per unit volume as the
// cube level of the same resolution (1.41x in 1D, 1.73x in 2D, 2x in 3D, 3x in 8D), while a
// point reads n+1 of them instead of 2^n. The skewed image of [0, 1]^n lies in the box
// [0, N_l sqrt(n+1)]^n of R_l = floor(N_l sqrt(n+1)) + 2 vertices per axis, but fills only
// sqrt(n+1) / (n+1)^(n/2) of it (58% in 2D, 25% in 3D, 0.8% in 6D).
//
// Indexing: a level whose vertices fit in the table is indexed densely, a finer level by the
// spatial hash of instant-ngp, h(v) = XOR_i (v_i * pi_i) mod 2^32, reduced modulo the table
// size (a power of two: a mask). The primes pi_i are instant-ngp's for i < 7 (1, 2654435761,
// 805459861, 3674653429, 2097192037, 1434869437, 2165219737); for i >= 7 they are the largest
// primes below frac(k sqrt 2) 2^32 for the successive k where that value is at least 2^31.
// Dense cube levels: the (N_l + 1)^n vertices row-major (axis 0 fastest). Dense simplex
// levels: only the vertices a point of [0, 1]^n can read, row by row. A row holds the vertices
// with equal v_1 .. v_{n-1} (rows in row-major order of those coordinates in the box, axis 1
// fastest); it is the range of v_0 that can be read, stored contiguously after the previous
// row: row(v) = start(v_1 .. v_{n-1}) + v_0, with one start per row of the box (R_l^(n-1)).
// The range: a point s read by vertex v has v_i - 1 <= s_i < v_i + 1 on every axis, and the
// skewed cube {s : 0 <= s_i - G_n sum(s) <= N_l} bounds s_0 by linear functions of the other
// coordinates; their extremes over that box of s_1 .. s_{n-1} bound v_0 (widened by one vertex
// on each side against rounding). The vertex count of a dense simplex level is the total
// length of its rows (about sqrt(n+1) N_l^n, the cube's (N_l + 1)^n at its default
// resolution in fit_image), and a level is dense when that count and its number of row starts
// both fit in the table.
//
// Inputs outside [0, 1] are clamped to [0, 1] coordinate-wise; the input gradient is zero in a
// clamped coordinate. NaN coordinates are treated as 0 (the Python layer refuses them).
//
// Parameters: a float32 table of n_levels * table_size rows of features_per_level values
// (level-major), passed to every call without copy. Output feature l * F + j is feature j of
// level l.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nearlinear/common.hpp"

namespace nearlinear {

enum class Lattice { Simplex, Cube };

namespace encoding_detail {
struct LevelTables;
}

/// Largest input dimension per lattice (the cube interpolates 2^n corners per level).
constexpr int kMaxSimplexDims = 32;
constexpr int kMaxCubeDims = 12;

struct HashGridConfig {
  int n_dims = 2;
  Lattice lattice = Lattice::Simplex;
  int n_levels = 16;
  int features_per_level = 2;
  int log2_table_size = 19;
  int base_resolution = 16;
  double per_level_scale = 1.5;
};

/// The geometry of a multiresolution hash encoding: levels, resolutions, indexing. It holds
/// no parameters; every call takes the table, so the caller owns (and may edit) it.
class HashGrid {
 public:
  /// Validates the configuration; throws std::invalid_argument when n_dims is outside
  /// 1..kMaxSimplexDims (1..kMaxCubeDims for the cube), n_levels outside 1..64,
  /// features_per_level not in {1, 2, 4, 8}, log2_table_size outside 1..30, base_resolution
  /// < 1, per_level_scale < 1 or not finite, or a level resolution above 2^30.
  explicit HashGrid(const HashGridConfig& config);

  const HashGridConfig& config() const { return config_; }
  std::int64_t table_size() const { return std::int64_t{1} << config_.log2_table_size; }
  /// Rows of the parameter table: n_levels * table_size.
  std::int64_t param_rows() const { return config_.n_levels * table_size(); }
  /// Columns of the output: n_levels * features_per_level.
  int output_dims() const { return config_.n_levels * config_.features_per_level; }
  /// N_l of every level.
  std::vector<int> resolutions() const;
  /// Whether every level is indexed densely (true) or hashed (false).
  std::vector<bool> dense_levels() const;

  /// Fill the #param_rows by #F table with uniform values in [-1e-4, 1e-4) drawn from seed
  /// (counter-based: independent of the thread count).
  void init_params(RowMatrixRef<float> params, std::uint64_t seed) const;

  /// out (#N by #output_dims) = encoding of x (#N by #n_dims) with the table params
  /// (#param_rows by #F). O(N * n_levels * (n^2 + (n+1) F)) for the simplex (n^2: the fractions
  /// are ranked by pairwise comparisons, 16 points at a time in SIMD lanes), O(N * n_levels *
  /// 2^n F) for the cube. Parallel over points.
  void forward(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> params,
               RowMatrixRef<float> out) const;

  /// grad_params (#param_rows by #F, overwritten) = adjoint of the forward map applied to
  /// grad_output (#N by #output_dims). Parallel over levels: each thread owns whole levels, so
  /// the scatter has no conflicts and the result does not depend on the thread count. (A
  /// point-parallel scatter with float atomics was 5-7x slower on 2 threads in 3-D and 4-D,
  /// and its summation order is not deterministic; per-thread tables summed afterwards took
  /// 1.07-2.62x the time, bench/encoding_scatter_strategies.py.) With more threads than
  /// levels, some stay idle. Throws std::invalid_argument, before writing grad_params, when
  /// grad_output holds NaN or inf, and after, when a sum leaves float32's range.
  void backward_params(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> grad_output,
                       RowMatrixRef<float> grad_params) const;

  /// grad_x (#N by #n_dims, overwritten) = d<forward(x), grad_output>/dx with the table
  /// params: the gradient of the piecewise-linear interpolation inside the cell of each point
  /// (one-sided on cell faces), zero in coordinates clamped to [0, 1]. Parallel over blocks
  /// of points, level-outer inside a block (as forward; 1.5-3x faster than point by point).
  void backward_input(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> params,
                      ConstRowMatrixRef<float> grad_output, RowMatrixRef<float> grad_x) const;

  /// For training: add the parameter gradient of a batch into grad_params (#param_rows by #F,
  /// which must hold zeros outside the rows whose flag is set), set the flags (#param_rows
  /// bytes) of the rows it adds to, and raise row_end[l] (#n_levels entries: one past the
  /// largest flagged row of level l, relative to the level) to cover them. Parallel over
  /// levels, deterministic.
  void accumulate_param_gradient(ConstRowMatrixRef<float> x, ConstRowMatrixRef<float> grad_output,
                                 RowMatrixRef<float> grad_params,
                                 std::vector<std::uint32_t>& row_end,
                                 std::vector<std::uint8_t>& flags) const;

 private:
  void check_shapes(ConstRowMatrixRef<float> x, Index params_rows, Index params_cols) const;
  HashGridConfig config_;
  // The geometry of every level, with the row starts of dense simplex levels: computed once.
  std::shared_ptr<const encoding_detail::LevelTables> levels_;
};

}  // namespace nearlinear

// Sparse sign sketch (CountSketch for s = 1): S A = (1/sqrt(s)) sum_j sum_k (+-1) e_{r_jk} A[j, :].
// The 1/sqrt(s) scale is applied once at the end. Cost O(s nnz(A)) plus O(s n) to draw S.
//
// Dense data: scattering each row of A into s random output rows makes s read-modify-writes
// of an output row per row of A (the way for CountSketch, s = 1, or an output small enough
// to stay in L2). A larger output is split into column panels of one or two cache lines of a
// row, each sketched by one task over all rows of A with its #m by W output held in L2 (a
// column-major A is copied into row-major tiles of the panel, 256 rows at a time, first).
// Otherwise (outputs too tall for that) S is regrouped per block of rows of
// A by output row (a counting sort): each output row is then loaded once per block, receives all its
// contributions from the block (held in a cache-resident tile of A) in registers, and is
// stored once. Sparse data is scattered entry by entry. The signs enter as multiplications
// by +-1 built from bits, never as branches (random signs defeat branch prediction).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "sketch_detail.hpp"

namespace nearlinear::sketch_detail {

namespace {

constexpr std::uint32_t kRowMask = 0x7fffffffu;
constexpr std::uint32_t kSignBit = 0x80000000u;

/// The sign of a code as +1 or -1, built from its bits: compilers often turn a select on the
/// sign into a branch, which random signs mispredict half the time.
template <typename T>
T code_sign(std::uint32_t code) {
  if constexpr (sizeof(T) == 8) {
    const std::uint64_t bits =
        0x3ff0000000000000ULL | (static_cast<std::uint64_t>(code & kSignBit) << 32);
    double sign;
    std::memcpy(&sign, &bits, sizeof sign);
    return sign;
  } else {
    const std::uint32_t bits = 0x3f800000u | (code & kSignBit);
    float sign;
    std::memcpy(&sign, &bits, sizeof sign);
    return sign;
  }
}

/// The columns [first, first + rows) of S (one per row of a block of A) regrouped by output
/// row: the block's s * rows entries (local row | sign bit) in runs of equal output row, in
/// ascending output row and, within a run, ascending local row. Built by each task for each
/// of its blocks just before use, so that it stays in cache; the buffers are reused.
class BlockBuckets {
 public:
  void build(const SketchSpec& spec, Index first, Index rows) {
    const Index s = spec.nnz_per_column, m = spec.m, count = rows * s;
    codes_.resize(static_cast<std::size_t>(count));
    entries_.resize(codes_.size());
    target_.resize(static_cast<std::size_t>(std::min(m, count)));
    end_.resize(target_.size());
    for (Index i = 0; i < rows; ++i) sparse_sign_column(spec, first + i, &codes_[i * s]);
    runs_ = 0;
    if (m <= 4 * count) {
      // Counting sort by output row (stable: local rows ascend within a run).
      start_.assign(static_cast<std::size_t>(m + 1), 0);
      for (std::uint32_t code : codes_) ++start_[(code & kRowMask) + 1];
      for (Index r = 0; r < m; ++r) {
        if (start_[r + 1] > 0) {
          target_[runs_] = static_cast<std::uint32_t>(r);
          end_[runs_++] = start_[r] + start_[r + 1];
        }
        start_[r + 1] += start_[r];
      }
      for (Index q = 0; q < count; ++q) {
        const std::uint32_t code = codes_[q];
        entries_[start_[code & kRowMask]++] = static_cast<std::uint32_t>(q / s) | (code & kSignBit);
      }
    } else {
      // Few entries per output row: sort (row, entry) keys instead of scanning all m rows.
      keys_.resize(codes_.size());
      for (Index q = 0; q < count; ++q)
        keys_[q] = (static_cast<std::uint64_t>(codes_[q] & kRowMask) << 32) | static_cast<std::uint64_t>(q);
      std::sort(keys_.begin(), keys_.end());
      for (Index q = 0; q < count; ++q) {
        const auto row = static_cast<std::uint32_t>(keys_[q] >> 32);
        const auto entry = static_cast<Index>(keys_[q] & 0xffffffffu);
        entries_[q] = static_cast<std::uint32_t>(entry / s) | (codes_[entry] & kSignBit);
        if (runs_ == 0 || target_[runs_ - 1] != row) target_[runs_++] = row;
        end_[runs_ - 1] = static_cast<std::uint32_t>(q + 1);
      }
    }
  }

  Index runs() const { return runs_; }
  const std::uint32_t* entries() const { return entries_.data(); }
  const std::uint32_t* run_target() const { return target_.data(); }
  const std::uint32_t* run_end() const { return end_.data(); }  ///< end of each run in entries()

 private:
  std::vector<std::uint32_t> codes_, entries_, target_, end_, start_;
  std::vector<std::uint64_t> keys_;
  Index runs_ = 0;
};

/// Where the next accumulate_block call will read: its tile and output chunks. Their first
/// `lines` cache lines are prefetched while the current block is accumulated, so that the
/// next call finds them in L2 instead of reading them from L3 at random.
template <typename T>
struct NextChunk {
  const T* tile = nullptr;
  const T* out = nullptr;
  Index lines = 0;
};

/// out (#m by W, row-major) += the block's part of S times tile (its rows by W, row-major).
template <typename T, int W>
void accumulate_block(const BlockBuckets& bk, const T* tile, T* out, const NextChunk<T>& next) {
  const std::uint32_t* entries = bk.entries();
  const std::uint32_t* target = bk.run_target();
  const std::uint32_t* end = bk.run_end();
  const Index runs = bk.runs();
  const Index lines_per_run = runs > 0 ? (next.lines + runs - 1) / runs : 0;
  const char* next_tile = reinterpret_cast<const char*>(next.tile);
  const char* next_out = reinterpret_cast<const char*>(next.out);
  Index e = 0, line = 0;
  for (Index q = 0; q < runs; ++q) {
    for (const Index line1 = std::min(next.lines, line + lines_per_run); line < line1; ++line) {
      __builtin_prefetch(next_tile + 64 * line, 0, 2);
      __builtin_prefetch(next_out + 64 * line, 1, 2);
    }
    // A fixed-size Eigen array keeps the W accumulators in vector registers.
    Eigen::Map<Eigen::Array<T, W, 1>> o(out + static_cast<Index>(target[q]) * W);
    Eigen::Array<T, W, 1> acc = o;
    for (const Index e1 = end[q]; e < e1; ++e) {
      const std::uint32_t code = entries[e];
      const Eigen::Map<const Eigen::Array<T, W, 1>> a(tile + static_cast<Index>(code & kRowMask) * W);
      acc += code_sign<T>(code) * a;
    }
    o = acc;
  }
}

/// Dense A through BlockBuckets. Each task reads its rows of A in storage order, one block at
/// a time, into a chunk-major tile (column chunks of W values), regroups the block's columns of
/// S, and accumulates each chunk into its own contiguous #m by W part of a chunk-major output.
template <typename T, int W>
RowMatrix<T> apply_dense(const SketchSpec& spec, const DataView<T>& A) {
  const Index n = A.rows, d = A.cols, m = spec.m;
  const Index chunks = (d + W - 1) / W;
  // About m rows per block, so that each output row receives about s contributions per block
  // (its load and store, and the end of its run, are then shared by s updates); the chunk width
  // W is chosen so that a block's chunk stays in L2 beside the #m x W output chunk.
  Index block_rows = 256;
  while (block_rows < 8192 && block_rows < m) block_rows *= 2;
  // Four row groups at most: each adds an #m x #d buffer to zero and to sum at the end, and
  // the regrouped sketch is close to memory-bound, so more groups cost more than they bring.
  TaskPlan plan = make_plan(n, d, m, d, block_rows, 4 * block_rows, sizeof(T), 4);
  plan.pad = W;
  return run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index, Index, T* acc, Index) {
    ThreadScratch<T, TileScratch> tile(static_cast<std::size_t>(chunks * block_rows * W));
    if (d % W != 0)  // zero the padding columns, which loading leaves alone
      std::fill(tile.data(), tile.data() + chunks * block_rows * W, T(0));
    BlockBuckets buckets;
    // Chunks are accumulated last-loaded first (the last ones loaded are still in L2), each
    // while the next one is prefetched.
    const Index lines = std::min(block_rows, m) * W * static_cast<Index>(sizeof(T)) / 64;
    for (Index r0 = i0; r0 < i1; r0 += block_rows) {
      const Index r1 = std::min(i1, r0 + block_rows);
      buckets.build(spec, r0, r1 - r0);
      load_chunked(A, r0, r1, W, tile.data(), block_rows, NoSign{});
      for (Index k = chunks - 1; k >= 0; --k) {
        NextChunk<T> next;
        if (k > 0) next = {tile.data() + (k - 1) * block_rows * W, acc + (k - 1) * m * W, lines};
        accumulate_block<T, W>(buckets, tile.data() + k * block_rows * W, acc + k * m * W, next);
      }
    }
  });
}

/// Row-major A scattered directly: each row of A is read once, in order, and added to its s
/// output rows. Best when regrouping saves nothing: for CountSketch (one target per row) and
/// when the whole output stays in L2 anyway.
template <typename T>
RowMatrix<T> apply_direct_rows(const SketchSpec& spec, const DataView<T>& A) {
  const Index n = A.rows, d = A.cols, m = spec.m, s = spec.nnz_per_column;
  // Memory-bound (one read of A, one cheap update per value), so a few row groups suffice;
  // each adds an #m x #d buffer to zero and sum. Each task draws its columns of S as it goes.
  const TaskPlan plan = make_plan(n, d, m, d, 1, Index(1) << 15, sizeof(T), 4);
  return run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index, Index, T* o, Index ld) {
    std::vector<std::uint32_t> codes(static_cast<std::size_t>(s));
    if (d == 1) {  // a vector: scalar updates, without a vector loop's set-up per entry
      for (Index i = i0; i < i1; ++i) {
        sparse_sign_column(spec, i, codes.data());
        for (Index k = 0; k < s; ++k)
          o[static_cast<Index>(codes[k] & kRowMask) * ld] += code_sign<T>(codes[k]) * A.dense[i * A.ld];
      }
      return;
    }
    for (Index i = i0; i < i1; ++i) {
      sparse_sign_column(spec, i, codes.data());
      const T* __restrict a = A.dense + i * A.ld;
      for (Index k = 0; k < s; ++k) {
        const T sign = code_sign<T>(codes[k]);
        T* __restrict dst = o + static_cast<Index>(codes[k] & kRowMask) * ld;
#pragma omp simd
        for (Index c = 0; c < d; ++c) dst[c] += sign * a[c];
      }
    }
  });
}

/// The codes of S for rows [0, n) of A, n * s of them, as 16-bit words (row | sign << 15;
/// m < 2^15): the panel kernel reads them once per column panel, so halving sparse_sign_codes'
/// 32-bit words halves that traffic.
std::vector<std::uint16_t> packed_codes(const SketchSpec& spec) {
  const Index s = spec.nnz_per_column;
  std::vector<std::uint16_t> codes(static_cast<std::size_t>(spec.n * s));
  const Index block = 4096;
  parallel_for(0, (spec.n + block - 1) / block, [&](std::int64_t b) {
    std::vector<std::uint32_t> column(static_cast<std::size_t>(s));
    const Index j1 = std::min(spec.n, (b + 1) * block);
    for (Index j = b * block; j < j1; ++j) {
      sparse_sign_column(spec, j, column.data());
      for (Index k = 0; k < s; ++k)
        codes[j * s + k] =
            static_cast<std::uint16_t>((column[k] & kRowMask) | ((column[k] & kSignBit) >> 16));
    }
  });
  return codes;
}

/// out (#m by W, row-major) += S[:, i0:i1] A[i0:i1, c0:c0 + W] for a row-major A, adding
/// each row's W values to its s output rows, in precision C (A's values rounded to it). A row's W values may run past column d (into
/// the next rows; those output columns are dropped), never past A's last value: the rows
/// whose W values would are added column by column. With K > 0, also side (#W by K,
/// row-major, double) += A[i0:i1, c0:c0 + W]^T V[i0:i1, :K] for V (row stride ldv) given
/// from row i0 on: the products ride along in registers (SideProduct).
template <typename T, typename C, int W, int K = 0>
void scatter_panel(const SketchSpec& spec, const DataView<T>& A, const std::uint16_t* codes,
                   Index i0, Index i1, Index c0, C* out, const double* v = nullptr,
                   Index ldv = 0, double* side = nullptr) {
  constexpr std::uint32_t kRow = 0x7fffu;
  const Index s = spec.nnz_per_column;
  auto sign_of = [](std::uint32_t code) { return code_sign<C>(code << 16); };
  // Rows i with i * ld + c0 + W <= (n - 1) * ld + d read within A.
  const Index last_value = (A.rows - 1) * A.ld + A.cols;
  const Index vector_end =
      last_value >= c0 + W ? std::min(i1, (last_value - c0 - W) / A.ld + 1) : Index(0);
  Index i = i0;
  // The panel's rows are ld apart: the hardware prefetchers would not run far enough ahead.
  constexpr Index kAhead = 16;
  constexpr int kLines = static_cast<int>((W * sizeof(T) + 63) / 64);
  using Side = Eigen::Array<double, W, 1>;
  Side acc[K > 0 ? K : 1];
  for (int j = 0; j < K; ++j) acc[j].setZero();
  for (; i < vector_end; ++i) {
    if (i + kAhead < vector_end) {
      const char* ahead = reinterpret_cast<const char*>(A.dense + (i + kAhead) * A.ld + c0);
      for (int line = 0; line < kLines; ++line) __builtin_prefetch(ahead + 64 * line, 0, 3);
      __builtin_prefetch(ahead + W * sizeof(T) - 1, 0, 3);  // the last line, when unaligned
    }
    const Eigen::Array<T, W, 1> a = Eigen::Map<const Eigen::Array<T, W, 1>>(A.dense + i * A.ld + c0);
    const std::uint16_t* ci = codes + i * s;
    if constexpr (std::is_same_v<T, C>) {
      for (Index k = 0; k < s; ++k) {
        Eigen::Map<Eigen::Array<C, W, 1>> o(out + static_cast<Index>(ci[k] & kRow) * W);
        o += sign_of(ci[k]) * a;
      }
    } else {
      const Eigen::Array<C, W, 1> narrow = a.template cast<C>();
      for (Index k = 0; k < s; ++k) {
        Eigen::Map<Eigen::Array<C, W, 1>> o(out + static_cast<Index>(ci[k] & kRow) * W);
        o += sign_of(ci[k]) * narrow;
      }
    }
    if constexpr (K > 0 && std::is_same_v<T, double>) {
      for (int j = 0; j < K; ++j) acc[j] += v[(i - i0) * ldv + j] * a;
    } else if constexpr (K > 0) {
      for (int j = 0; j < K; ++j) acc[j] += v[(i - i0) * ldv + j] * a.template cast<double>();
    }
  }
  const Index w = std::min<Index>(W, A.cols - c0);
  for (; i < i1; ++i) {
    const std::uint16_t* ci = codes + i * s;
    for (Index k = 0; k < s; ++k) {
      C* o = out + static_cast<Index>(ci[k] & kRow) * W;
      const C sign = sign_of(ci[k]);
      for (Index c = 0; c < w; ++c) o[c] += sign * static_cast<C>(A.dense[i * A.ld + c0 + c]);
    }
    for (int j = 0; j < K; ++j)
      for (Index c = 0; c < w; ++c)
        acc[j][c] += v[(i - i0) * ldv + j] * static_cast<double>(A.dense[i * A.ld + c0 + c]);
  }
  for (int j = 0; j < K; ++j)
    for (Index c = 0; c < W; ++c) side[c * K + j] += acc[j][c];
}

/// A dense A by column panels: each task owns a panel of W columns, keeps its #m by W
/// output in L2 and streams the panel's part of every row of A in order, scattering it into
/// its s output rows. The cache-resident output makes each update an L2 read-modify-write,
/// where the regrouped kernel re-streams its output from L3 for every block of rows. Each
/// output value sums its contributions in row order whatever the panel width, so the result
/// does not depend on the panels (nor on the thread count, nor on A's layout); row groups,
/// fixed by the sizes, are summed in order. C: the precision of the sums (A's values are
/// rounded to it as they are read; float halves the cache traffic per value).
template <typename T, typename C, int W>
RowMatrix<C> apply_panels(const SketchSpec& spec, const DataView<T>& A, SideProduct* side) {
  const Index n = A.rows, d = A.cols, m = spec.m;
  const Index K = side ? side->k : 0;
  const std::vector<std::uint16_t> codes = packed_codes(spec);
  // Panels of W columns, the last one narrowed to W/2 or W/4 when it fits.
  struct Panel {
    Index c0, width;
  };
  // Panels start on cache lines when every row starts at the same offset in its line (a
  // NumPy array's data is usually 16 bytes past a line): a panel straddling lines would read
  // three lines of each row for two lines' worth of values.
  constexpr Index kLine = 64;
  const auto offset = static_cast<Index>(reinterpret_cast<std::uintptr_t>(A.dense) % kLine);
  Index head = 0;
  if ((A.ld * static_cast<Index>(sizeof(T))) % kLine == 0 && offset % sizeof(T) == 0)
    head = std::min(d, (kLine - offset) % kLine / static_cast<Index>(sizeof(T)));
  std::vector<Panel> panels;
  auto add_panel = [&](Index c0, Index w) {
    panels.push_back({c0, w <= W / 4 ? W / 4 : w <= W / 2 ? W / 2 : W});
  };
  if (head > 0) add_panel(0, head);
  for (Index c0 = head; c0 < d; c0 += W) add_panel(c0, std::min<Index>(W, d - c0));
  const Index np = static_cast<Index>(panels.size());
  auto panel_end = [&](Index p) { return p + 1 < np ? panels[p + 1].c0 : d; };
  // Row groups (each adds an #m by #d buffer) only when there are too few panels to share
  // out; at most 4, and never below 2^15 rows each.
  const Index groups = std::clamp<Index>(std::min<Index>((8 + np - 1) / np, n >> 15), 1, 4);
  const Index per_group = (n + groups - 1) / groups;
  ThreadScratch<C, PlanScratch> buffers(static_cast<std::size_t>(groups * np * m * W));
  C* base = buffers.data();
  // Each task's part of A^T V (W by K), summed over the groups in order below.
  std::vector<double> side_parts(static_cast<std::size_t>(groups * np * W * K), 0.0);
  parallel_for(
      0, groups * np,
      [&](std::int64_t task) {
        const Index g = task / np, p = task % np;
        const Index i0 = g * per_group, i1 = std::min(n, i0 + per_group);
        C* out = base + task * m * W;
        const Index w = panels[p].width, c0 = panels[p].c0;
        const Index c1 = panel_end(p);
        std::fill(out, out + m * w, C(0));
        double* side_out = side_parts.data() + task * W * K;
        auto scatter = [&](auto width, auto columns) {
          constexpr int kW = decltype(width)::value, kK = decltype(columns)::value;
          const double* v = side ? side->v : nullptr;
          const Index ldv = side ? side->ld : 0;
          if (A.layout == DataView<T>::Layout::RowMajor) {
            scatter_panel<T, C, kW, kK>(spec, A, codes.data(), i0, i1, c0, out,
                                     kK > 0 ? v + i0 * ldv : nullptr, ldv, side_out);
            return;
          }
          // Column-major: blocks of the panel transposed into a row-major tile (its padding
          // columns zero), then scattered as rows are; the same sums in the same order.
          constexpr Index kTileRows = 256;
          ThreadScratch<T, TileScratch> tile(static_cast<std::size_t>(kTileRows * kW));
          std::fill(tile.data(), tile.data() + kTileRows * kW, T(0));
          for (Index r0 = i0; r0 < i1; r0 += kTileRows) {
            const Index len = std::min(kTileRows, i1 - r0);
            load_tile(A, r0, r0 + len, c0, c1, tile.data(), kW, NoSign{});
            DataView<T> rows;
            rows.rows = len;
            rows.cols = kW;
            rows.dense = tile.data();
            rows.ld = kW;
            scatter_panel<T, C, kW, kK>(spec, rows, codes.data() + r0 * spec.nnz_per_column, 0,
                                     len, 0, out, kK > 0 ? v + r0 * ldv : nullptr, ldv,
                                     side_out);
          }
        };
        auto by_columns = [&](auto width) {
          if (K == 0)
            scatter(width, std::integral_constant<int, 0>{});
          else if (K == 1)
            scatter(width, std::integral_constant<int, 1>{});
          else
            scatter(width, std::integral_constant<int, 2>{});
        };
        if (w == W)
          by_columns(std::integral_constant<int, W>{});
        else if (w == W / 2)
          by_columns(std::integral_constant<int, W / 2>{});
        else
          by_columns(std::integral_constant<int, W / 4>{});
      },
      Schedule::Dynamic, 1);
  if (side) {
    side->out.setZero(d, K);
    for (Index p = 0; p < np; ++p) {
      const Index c0 = panels[p].c0, cols = panel_end(p) - c0;
      for (Index g = 0; g < groups; ++g)
        for (Index c = 0; c < cols; ++c)
          for (Index j = 0; j < K; ++j)
            side->out(c0 + c, j) += side_parts[((g * np + p) * W + c) * K + j];
    }
  }
  RowMatrix<C> result(m, d);
  advise_huge_pages(result);
  parallel_for(0, np, [&](std::int64_t p) {
    const Index c0 = panels[p].c0, w = panels[p].width;
    const Index cols = panel_end(p) - c0;
    for (Index r = 0; r < m; ++r) {
      C* dst = result.data() + r * d + c0;
      const C* src = base + p * m * W + r * w;
      std::copy_n(src, cols, dst);
      for (Index g = 1; g < groups; ++g) {
        const C* more = base + (g * np + p) * m * W + r * w;
        for (Index c = 0; c < cols; ++c) dst[c] += more[c];
      }
    }
  });
  return result;
}

/// Sparse A: each stored entry is added to its s output rows.
template <typename T>
RowMatrix<T> apply_sparse(const SketchSpec& spec, const DataView<T>& A) {
  const Index n = A.rows, d = A.cols, m = spec.m, s = spec.nnz_per_column;
  const SparseView<T>& S = A.sparse;
  auto scatter = [&](const std::uint32_t* ci, Index c, T v, T* o, Index ld) {
    for (Index k = 0; k < s; ++k)
      o[static_cast<Index>(ci[k] & kRowMask) * ld + c] += code_sign<T>(ci[k]) * v;
  };
  if (A.layout == DataView<T>::Layout::Csr) {
    // Each row is visited once: its codes are drawn there, for the rows holding entries only
    // (cost and memory O(s nnz), not O(s n)).
    const TaskPlan plan = make_plan(n, d, m, d, 1, 4096, sizeof(T));
    return run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index, Index, T* o, Index ld) {
      std::vector<std::uint32_t> ci(static_cast<std::size_t>(s));
      for (Index i = i0; i < i1; ++i) {
        if (S.indptr[i] == S.indptr[i + 1]) continue;
        sparse_sign_column(spec, i, ci.data());
        for (std::int64_t p = S.indptr[i]; p < S.indptr[i + 1]; ++p)
          scatter(ci.data(), S.indices[p], S.data[p], o, ld);
      }
    });
  }
  // CSC: a row's entries lie in several columns. Its codes are drawn once for all rows when
  // A has at least n entries, else per entry (O(s nnz) either way, no O(s n) table).
  const bool table = S.nnz() >= n;
  const std::vector<std::uint32_t> codes = table ? sparse_sign_codes(spec)
                                                 : std::vector<std::uint32_t>();
  const TaskPlan plan = make_plan(n, d, m, 16, 1, 4096, sizeof(T));
  return run_plan<T>(plan, n, m, d, [&](Index i0, Index i1, Index c0, Index c1, T* o, Index ld) {
    std::vector<std::uint32_t> drawn(table ? 0 : static_cast<std::size_t>(s));
    for (Index c = c0; c < c1; ++c) {
      const std::int64_t* begin = S.indices + S.indptr[c];
      const std::int64_t* end = S.indices + S.indptr[c + 1];
      for (const std::int64_t* q = std::lower_bound(begin, end, i0); q != end && *q < i1; ++q) {
        if (!table) sparse_sign_column(spec, *q, drawn.data());
        scatter(table ? codes.data() + *q * s : drawn.data(), c - c0, S.data[q - S.indices], o,
                ld);
      }
    }
  });
}

}  // namespace

template <typename T, typename C>
RowMatrix<C> apply_sparse_sign(const SketchSpec& spec, const DataView<T>& A, SideProduct* side) {
  RowMatrix<C> out;
  if (side && !(side->k >= 1 && side->k <= kMaxFusedColumns)) side = nullptr;
  const double scale = 1.0 / std::sqrt(static_cast<double>(spec.nnz_per_column));
  // The paths other than the panels sum and scale in T, and round the result to C.
  auto in_c = [&](RowMatrix<T>&& M) {
    if (spec.nnz_per_column > 1) M *= static_cast<T>(scale);
    return in_precision<C>(std::move(M));
  };
  if (A.is_dense() && A.cols == 1) {
    // A vector: whichever its layout, its values are contiguous, and one value per row leaves
    // nothing for regrouping to share.
    DataView<T> rows = A;
    rows.layout = DataView<T>::Layout::RowMajor;
    rows.ld = 1;
    out = in_c(apply_direct_rows(spec, rows));
  } else if (!A.is_dense()) {
    out = in_c(apply_sparse(spec, A));
  } else if (A.layout == DataView<T>::Layout::RowMajor &&
             (spec.nnz_per_column == 1 ||
              spec.m * A.cols * static_cast<Index>(sizeof(T)) <= (256 << 10))) {
    out = in_c(apply_direct_rows(spec, A));
  } else if (spec.m <= kSparseSignPanelRows) {
    // Panels of two cache lines of each output row (one for taller outputs) whose #m by W
    // output fits in half of L2 (a column-major A through row-major tiles of the panel: at
    // 200000 x 200, 1.85x faster than the regrouped kernel for m = 4000, s = 4, and 1.35x
    // for m = 800).
    if (spec.m * 128 <= (Index(1) << 20))
      out = apply_panels<T, C, 128 / sizeof(C)>(spec, A, side);
    else
      out = apply_panels<T, C, 64 / sizeof(C)>(spec, A, side);
    if (spec.nnz_per_column > 1) out *= static_cast<C>(scale);
  } else {
    // Output chunks of W values: as wide as the #m x W output chunk and a block's chunk of
    // about max(m, 256) rows (see apply_dense) fit in half of L2, not much wider than A.
    constexpr Index kLine = 64 / sizeof(T);  // values per cache line
    const Index bytes_per_column =
        std::max<Index>(512, 2 * spec.m) * static_cast<Index>(sizeof(T));
    if (A.cols > 2 * kLine && 4 * kLine * bytes_per_column <= (512 << 10))
      out = in_c(apply_dense<T, 4 * kLine>(spec, A));
    else if (A.cols > kLine && 2 * kLine * bytes_per_column <= (512 << 10))
      out = in_c(apply_dense<T, 2 * kLine>(spec, A));
    else
      out = in_c(apply_dense<T, kLine>(spec, A));
  }
  return out;
}

template RowMatrix<float> apply_sparse_sign<float, float>(const SketchSpec&,
                                                          const DataView<float>&, SideProduct*);
template RowMatrix<double> apply_sparse_sign<double, double>(const SketchSpec&,
                                                             const DataView<double>&,
                                                             SideProduct*);
template RowMatrix<float> apply_sparse_sign<double, float>(const SketchSpec&,
                                                           const DataView<double>&, SideProduct*);

}  // namespace nearlinear::sketch_detail

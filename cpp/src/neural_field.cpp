// Training loop of a neural field: encoding forward, MLP, MSE, backward, sparse Adam.
#include "nearlinear/neural_field.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

#include "nearlinear/interrupt.hpp"
#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace {

constexpr Index kPredictChunk = 1 << 16;

RowMatrix<float> pixel_centres(Index begin, Index end, int height, int width) {
  RowMatrix<float> x(end - begin, 2);
  for (Index p = begin; p < end; ++p) {
    x(p - begin, 0) = (static_cast<float>(p / width) + 0.5f) / static_cast<float>(height);
    x(p - begin, 1) = (static_cast<float>(p % width) + 0.5f) / static_cast<float>(width);
  }
  return x;
}

/// Sort keys (each <= max_key) in place, least significant digit first; scratch is resized to
/// keys.size(). O(keys.size() * passes), passes = ceil(bits of max_key / 11).
void radix_sort(std::vector<std::uint64_t>& keys, std::vector<std::uint64_t>& scratch,
                std::uint64_t max_key) {
  constexpr int kBits = 11;
  constexpr std::uint64_t kDigits = std::uint64_t{1} << kBits;
  std::vector<std::size_t> start(kDigits);
  scratch.resize(keys.size());
  for (int shift = 0; shift < 64 && (max_key >> shift) != 0; shift += kBits) {
    std::fill(start.begin(), start.end(), 0);
    for (const std::uint64_t k : keys) ++start[(k >> shift) & (kDigits - 1)];
    std::size_t sum = 0;
    for (std::size_t& s : start) sum += std::exchange(s, sum);
    for (const std::uint64_t k : keys) scratch[start[(k >> shift) & (kDigits - 1)]++] = k;
    keys.swap(scratch);
  }
}

/// Adam's moment and parameter update of one table entry.
struct AdamEntry {
  float b1, b2, step, eps;
  void operator()(float& param, float& grad, float& m, float& v) const {
    const float g = grad;
    m = b1 * m + (1.0f - b1) * g;
    v = b2 * v + (1.0f - b2) * g * g;
    param -= step * m / (std::sqrt(v) + eps);
    grad = 0.0f;
  }
};

/// Adam on the rows first .. first + 8 whose flag is set, the others left as they are; FC > 0:
/// F fixed at compile time. The update is computed for all eight rows and kept where flagged
/// (the gradient of an unflagged row is zero, so clearing it is harmless): branch-free, with
/// the same operations per entry (so the same bits) as one row at a time. GCC 12 keeps the loop
/// scalar; declaring the arrays unaliased let it vectorise but gained nothing, as the update is
/// bound by memory traffic, not arithmetic.
template <int FC>
void adam_eight_rows(float* param, float* grad, float* m, float* v, const std::uint8_t* flags,
                     int F_runtime, const AdamEntry& adam) {
  const int F = FC > 0 ? FC : F_runtime;
  for (int k = 0; k < 8 * F; ++k) {
    const bool on = flags[k / F] != 0;
    float p = param[k], g = grad[k], mk = m[k], vk = v[k];
    adam(p, g, mk, vk);
    param[k] = on ? p : param[k];
    m[k] = on ? mk : m[k];
    v[k] = on ? vk : v[k];
    grad[k] = 0.0f;
  }
}

/// Adam on the flagged rows of the table only (lazy moments, as instant-ngp's sparse update);
/// clears their gradient and flags, and row_end. Each thread owns whole levels. A level's rows
/// are visited in increasing order, eight at a time, by scanning its flags up to row_end[l]
/// (groups of eight without a flag are skipped), rather than one by one in the order the
/// scatter first touched them: the four arrays are then read as forward streams, which the
/// hardware prefetcher follows, and the update has no branches, instead of a cache miss per
/// row and array.
void sparse_adam(RowMatrix<float>& params, RowMatrix<float>& grad, RowMatrix<float>& m,
                 RowMatrix<float>& v, std::vector<std::uint32_t>& row_end,
                 std::vector<std::uint8_t>& flags, std::int64_t table, const AdamOptions& o,
                 int t) {
  AdamEntry adam;
  adam.b1 = static_cast<float>(o.beta1);
  adam.b2 = static_cast<float>(o.beta2);
  adam.step = static_cast<float>(o.learning_rate * std::sqrt(1.0 - std::pow(o.beta2, t)) /
                                 (1.0 - std::pow(o.beta1, t)));
  adam.eps = static_cast<float>(o.epsilon);
  const int F = static_cast<int>(params.cols());
  parallel_for(
      0, static_cast<std::int64_t>(row_end.size()),
      [&](std::int64_t l) {
        const std::int64_t end = row_end[l];
        std::uint8_t* level_flags = flags.data() + l * table;
        for (std::int64_t first = 0; first < end; first += 8) {
          if (first + 8 <= table) {
            std::uint64_t eight;
            std::memcpy(&eight, level_flags + first, 8);
            if (eight == 0) continue;
            const std::int64_t at = (l * table + first) * F;
            if (F == 2)
              adam_eight_rows<2>(params.data() + at, grad.data() + at, m.data() + at,
                                 v.data() + at, level_flags + first, F, adam);
            else
              adam_eight_rows<0>(params.data() + at, grad.data() + at, m.data() + at,
                                 v.data() + at, level_flags + first, F, adam);
            std::memset(level_flags + first, 0, 8);
            continue;
          }
          for (std::int64_t q = first; q < end; ++q) {  // a table of fewer than eight rows
            if (!level_flags[q]) continue;
            level_flags[q] = 0;
            const std::int64_t r = l * table + q;
            for (int j = 0; j < F; ++j) adam(params(r, j), grad(r, j), m(r, j), v(r, j));
          }
        }
        row_end[l] = 0;
      },
      Schedule::Dynamic, 1);
}

/// Bits of v (< 2^32) moved to the even positions: spread(0b111) = 0b10101.
std::uint64_t spread_bits(std::uint64_t v) {
  v &= 0xFFFFFFFFu;
  v = (v | v << 16) & 0x0000FFFF0000FFFFu;
  v = (v | v << 8) & 0x00FF00FF00FF00FFu;
  v = (v | v << 4) & 0x0F0F0F0F0F0F0F0Fu;
  v = (v | v << 2) & 0x3333333333333333u;
  return (v | v << 1) & 0x5555555555555555u;
}

/// The inverse of spread_bits on the even bits of v.
std::uint64_t gather_bits(std::uint64_t v) {
  v &= 0x5555555555555555u;
  v = (v | v >> 1) & 0x3333333333333333u;
  v = (v | v >> 2) & 0x0F0F0F0F0F0F0F0Fu;
  v = (v | v >> 4) & 0x00FF00FF00FF00FFu;
  v = (v | v >> 8) & 0x0000FFFF0000FFFFu;
  return (v | v >> 16) & 0xFFFFFFFFu;
}

/// Position of pixel (r, c) on the Z-order (Morton) curve: the bits of r and c interleaved.
std::uint64_t morton_key(std::uint64_t r, std::uint64_t c) {
  return spread_bits(r) | spread_bits(c) << 1;
}

}  // namespace

NeuralField::NeuralField(const HashGridConfig& grid, int n_outputs, int hidden_width,
                         int hidden_layers, std::uint64_t seed)
    : grid_(grid),
      mlp_(grid_.output_dims(), hidden_width, hidden_layers, n_outputs, seed + 1) {
  params_.resize(grid_.param_rows(), grid.features_per_level);
  grid_.init_params(params_, seed);
}

RowMatrix<float> NeuralField::predict(ConstRowMatrixRef<float> x) const {
  NL_CHECK(x.cols() == grid_.config().n_dims,
           "x must have " << grid_.config().n_dims << " columns; got " << x.cols());
  RowMatrix<float> out(x.rows(), mlp_.n_outputs());
  RowMatrix<float> features;
  for (Index begin = 0; begin < x.rows(); begin += kPredictChunk) {
    const Index rows = std::min(kPredictChunk, x.rows() - begin);
    features.resize(rows, grid_.output_dims());
    grid_.forward(x.middleRows(begin, rows), params_, features);
    out.middleRows(begin, rows) = mlp_.predict(features);
  }
  return out;
}

double NeuralField::image_psnr(ConstRowMatrixRef<float> pixels, int height, int width) const {
  double squared = 0.0;
  const Index n = static_cast<Index>(height) * width;
  for (Index begin = 0; begin < n; begin += kPredictChunk) {
    const Index end = std::min(n, begin + kPredictChunk);
    const RowMatrix<float> predicted = predict(pixel_centres(begin, end, height, width));
    squared += (predicted - pixels.middleRows(begin, end - begin)).cast<double>().squaredNorm();
  }
  const double mse = squared / (static_cast<double>(n) * pixels.cols());
  return 10.0 * std::log10(1.0 / std::max(mse, 1e-30));
}

FieldTrainingLog NeuralField::fit_image(ConstRowMatrixRef<float> pixels, int height, int width,
                                        const FieldTrainingOptions& options) {
  NL_CHECK(grid_.config().n_dims == 2, "fit_image needs a 2-D encoding");
  NL_CHECK(height >= 1 && width >= 1, "the image must not be empty");
  NL_CHECK(pixels.rows() == static_cast<Index>(height) * width && pixels.cols() == mlp_.n_outputs(),
           "pixels must have shape (" << static_cast<Index>(height) * width << ", "
                                      << mlp_.n_outputs() << ")");
  NL_CHECK(options.steps >= 1, "steps must be >= 1; got " << options.steps);
  NL_CHECK(options.batch_size >= 1, "batch_size must be >= 1; got " << options.batch_size);
  NL_CHECK(options.eval_every >= 0, "eval_every must be >= 0; got " << options.eval_every);
  NL_CHECK(std::isfinite(options.learning_rate) && options.learning_rate > 0,
           "learning_rate must be positive; got " << options.learning_rate);

  AdamOptions adam;
  adam.learning_rate = options.learning_rate;
  const std::int64_t table = grid_.table_size();
  const int n_levels = grid_.config().n_levels;
  const Index batch = options.batch_size, channels = pixels.cols();
  const std::uint64_t n_pixels = static_cast<std::uint64_t>(height) * width;

  RowMatrix<float> grad_table = RowMatrix<float>::Zero(params_.rows(), params_.cols());
  RowMatrix<float> adam_m = grad_table, adam_v = grad_table;
  std::vector<std::uint32_t> row_end(n_levels, 0);
  std::vector<std::uint8_t> flags(static_cast<std::size_t>(grid_.param_rows()), 0);
  RowMatrix<float> x(batch, 2), target(batch, channels), features(batch, grid_.output_dims());
  RowMatrix<float> out, grad_features, residual;
  std::vector<std::uint64_t> keys(static_cast<std::size_t>(batch)), sort_scratch;
  // The key grows with r and with c: the largest is that of the last pixel.
  const std::uint64_t max_key = morton_key(height - 1, width - 1);

  FieldTrainingLog log;
  log.loss.reserve(options.steps);
  log.time.reserve(options.steps);
  double elapsed = 0.0;
  using Clock = std::chrono::steady_clock;
  for (int step = 0; step < options.steps; ++step) {
    check_interrupt();
    const auto start = Clock::now();
    // Exponential decay to a tenth of the rate at the last step: late steps refine instead of
    // oscillating.
    adam.learning_rate = options.learning_rate *
                         std::pow(0.1, static_cast<double>(step) / std::max(1, options.steps - 1));
    // The batch is visited along the Z-order curve of its pixels: the loss and its gradients
    // do not depend on the order of the samples, but in this order consecutive points lie close
    // together in both image axes, so on every level they read neighbouring table rows, and the
    // encoding's gathers and scatters mostly hit the cache instead of missing it once per
    // vertex (on either lattice, with no preferred axis).
    parallel_for(0, batch, [&](std::int64_t b) {
      const std::uint64_t word = rng::hash(options.seed, 1 + static_cast<std::uint64_t>(step),
                                           static_cast<std::uint64_t>(b));
      const std::uint64_t p = rng::to_range(word, n_pixels);
      keys[b] = morton_key(p / width, p % width);
    });
    radix_sort(keys, sort_scratch, max_key);
    parallel_for(0, batch, [&](std::int64_t b) {
      const std::uint64_t r = gather_bits(keys[b]), c = gather_bits(keys[b] >> 1);
      x(b, 0) = (static_cast<float>(r) + 0.5f) / static_cast<float>(height);
      x(b, 1) = (static_cast<float>(c) + 0.5f) / static_cast<float>(width);
      target.row(b) = pixels.row(static_cast<Index>(r * width + c));
    });
    grid_.forward(x, params_, features);
    mlp_.forward_train(features, out);
    residual.noalias() = out - target;
    log.loss.push_back(static_cast<float>(residual.cast<double>().squaredNorm() /
                                          static_cast<double>(residual.size())));
    residual *= 2.0f / static_cast<float>(residual.size());  // d(mean squared error)/d(out)
    mlp_.backward(residual, grad_features);
    grid_.accumulate_param_gradient(x, grad_features, grad_table, row_end, flags);
    sparse_adam(params_, grad_table, adam_m, adam_v, row_end, flags, table, adam, step + 1);
    mlp_.adam_step(adam, step + 1);
    elapsed += std::chrono::duration<double>(Clock::now() - start).count();
    log.time.push_back(elapsed);
    const bool stop = options.on_step && options.on_step(step + 1, log.loss.back());
    const bool last = stop || step + 1 == options.steps;
    if (last || (options.eval_every > 0 && (step + 1) % options.eval_every == 0)) {
      log.eval_step.push_back(step + 1);
      log.eval_time.push_back(elapsed);
      log.eval_psnr.push_back(image_psnr(pixels, height, width));
    }
    if (stop) break;
  }
  return log;
}

}  // namespace nearlinear

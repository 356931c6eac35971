// Training loop of a neural field: encoding forward, MLP, MSE, backward, sparse Adam.
#include "nearlinear/neural_field.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "encoding_cells.hpp"
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

constexpr std::size_t kAdamPrefetch = 16;  // rows ahead

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

/// Adam on the touched rows of the table only (lazy moments, as instant-ngp's sparse update);
/// clears their gradient and flags. Each thread owns whole levels.
void sparse_adam(RowMatrix<float>& params, RowMatrix<float>& grad, RowMatrix<float>& m,
                 RowMatrix<float>& v, std::vector<std::vector<std::uint32_t>>& touched,
                 std::vector<std::uint8_t>& flags, std::int64_t table, const AdamOptions& o,
                 int t) {
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const float step = static_cast<float>(o.learning_rate * std::sqrt(1.0 - std::pow(o.beta2, t)) /
                                        (1.0 - std::pow(o.beta1, t)));
  const float eps = static_cast<float>(o.epsilon);
  const Index F = params.cols();
  parallel_for(
      0, static_cast<std::int64_t>(touched.size()),
      [&](std::int64_t l) {
        const std::vector<std::uint32_t>& rows = touched[l];
        const std::size_t count = rows.size();
        for (std::size_t i = 0; i < count; ++i) {
          // The rows are scattered over the table: request the arrays' lines a few rows ahead
          // so that their misses overlap.
          if (i + kAdamPrefetch < count) {
            const std::int64_t ahead = l * table + rows[i + kAdamPrefetch];
            encoding_detail::prefetch_row(&params(ahead, 0), true);
            encoding_detail::prefetch_row(&grad(ahead, 0), true);
            encoding_detail::prefetch_row(&m(ahead, 0), true);
            encoding_detail::prefetch_row(&v(ahead, 0), true);
          }
          const std::int64_t r = l * table + rows[i];
          for (Index j = 0; j < F; ++j) {
            const float g = grad(r, j);
            m(r, j) = b1 * m(r, j) + (1.0f - b1) * g;
            v(r, j) = b2 * v(r, j) + (1.0f - b2) * g * g;
            params(r, j) -= step * m(r, j) / (std::sqrt(v(r, j)) + eps);
            grad(r, j) = 0.0f;
          }
          flags[r] = 0;
        }
        touched[l].clear();
      },
      Schedule::Dynamic, 1);
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
  std::vector<std::vector<std::uint32_t>> touched(n_levels);
  std::vector<std::uint8_t> flags(static_cast<std::size_t>(grid_.param_rows()), 0);
  RowMatrix<float> x(batch, 2), target(batch, channels), features(batch, grid_.output_dims());
  RowMatrix<float> out, grad_features, residual;
  std::vector<std::uint64_t> keys(static_cast<std::size_t>(batch)), sort_scratch;

  FieldTrainingLog log;
  log.loss.reserve(options.steps);
  log.time.reserve(options.steps);
  double elapsed = 0.0;
  using Clock = std::chrono::steady_clock;
  for (int step = 0; step < options.steps; ++step) {
    const auto start = Clock::now();
    // Exponential decay to a tenth of the rate at the last step: late steps refine instead of
    // oscillating.
    adam.learning_rate = options.learning_rate *
                         std::pow(0.1, static_cast<double>(step) / std::max(1, options.steps - 1));
    // The batch is visited in column-major pixel order (key c * H + r): the loss and its
    // gradients do not depend on the order of the samples, but in this order consecutive points
    // read neighbouring table rows on every level (row coordinate = axis 0, the dense levels'
    // fastest axis), so the encoding's gathers and scatters and the sparse Adam update, which
    // visits rows in the order the scatter first touched them, mostly hit the cache instead of
    // missing it once per vertex (the same for both lattices).
    parallel_for(0, batch, [&](std::int64_t b) {
      const std::uint64_t word = rng::hash(options.seed, 1 + static_cast<std::uint64_t>(step),
                                           static_cast<std::uint64_t>(b));
      const std::uint64_t p = rng::to_range(word, n_pixels);
      keys[b] = (p % width) * height + p / width;
    });
    radix_sort(keys, sort_scratch, n_pixels - 1);
    parallel_for(0, batch, [&](std::int64_t b) {
      const std::uint64_t r = keys[b] % height, c = keys[b] / height;
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
    grid_.accumulate_param_gradient(x, grad_features, grad_table, touched, flags);
    sparse_adam(params_, grad_table, adam_m, adam_v, touched, flags, table, adam, step + 1);
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

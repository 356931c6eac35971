// A neural field: a hash encoding (nearlinear/encoding.hpp) followed by a small ReLU MLP
// (nearlinear/mlp.hpp), trained entirely in C++ with Adam. The table is updated sparsely, as in
// instant-ngp: each step touches (and updates the Adam moments of) only the rows its batch read.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nearlinear/common.hpp"
#include "nearlinear/encoding.hpp"
#include "nearlinear/mlp.hpp"

namespace nearlinear {

struct FieldTrainingOptions {
  int steps = 1000;
  int batch_size = 1 << 14;
  // Initial rate of Adam (betas 0.9, 0.99) for the table and the network; it decays
  // exponentially to a tenth of this at the last step.
  double learning_rate = 1e-2;
  int eval_every = 0;           // full-image PSNR every this many steps (0: only at the end)
  std::uint64_t seed = 0;       // pixel batches
  // Called after every step with the step number (from 1) and the batch loss, outside the
  // timed part; returning true stops the training after that step. Empty: not called.
  std::function<bool(int, float)> on_step;
};

/// Per-step loss (mean squared error of the batch, before the step) and elapsed training time
/// in seconds (evaluations excluded); full-image PSNR at the evaluation steps.
struct FieldTrainingLog {
  std::vector<float> loss;
  std::vector<double> time;
  std::vector<int> eval_step;
  std::vector<double> eval_time;
  std::vector<double> eval_psnr;
};

class NeuralField {
 public:
  /// Table from seed (HashGrid::init_params), network from seed + 1.
  NeuralField(const HashGridConfig& grid, int n_outputs, int hidden_width, int hidden_layers,
              std::uint64_t seed);

  /// Fit pixels (#H*#W by #C, row-major image, values in [0, 1]) of a 2-D grid config, pixel
  /// (r, c) at x = ((r + 0.5) / H, (c + 0.5) / W), with random batches of pixels (drawn with
  /// replacement from the counter-based generator: the same for any thread count). PSNR is
  /// 10 log10(1 / MSE) over the whole image. Throws std::invalid_argument on shape mismatch or
  /// options out of range.
  FieldTrainingLog fit_image(ConstRowMatrixRef<float> pixels, int height, int width,
                             const FieldTrainingOptions& options);

  /// The field at x (#N by #n_dims): #N by #n_outputs.
  RowMatrix<float> predict(ConstRowMatrixRef<float> x) const;

  const RowMatrix<float>& params() const { return params_; }

 private:
  double image_psnr(ConstRowMatrixRef<float> pixels, int height, int width) const;

  HashGrid grid_;
  RowMatrix<float> params_;  // #n_levels*table_size by #features_per_level
  Mlp mlp_;
};

}  // namespace nearlinear

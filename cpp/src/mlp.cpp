// Fully-connected ReLU network with Adam.
#include "nearlinear/mlp.hpp"

#include <algorithm>
#include <cmath>

#include "nearlinear/parallel.hpp"
#include "nearlinear/random.hpp"

namespace nearlinear {
namespace {

template <class Matrix>
void adam_update(Matrix& param, const Matrix& grad, Matrix& m, Matrix& v,
                 const AdamOptions& o, int t) {
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const float step = static_cast<float>(o.learning_rate * std::sqrt(1.0 - std::pow(o.beta2, t)) /
                                        (1.0 - std::pow(o.beta1, t)));
  const float eps = static_cast<float>(o.epsilon);
  m.array() = b1 * m.array() + (1.0f - b1) * grad.array();
  v.array() = b2 * v.array() + (1.0f - b2) * grad.array().square();
  param.array() -= step * m.array() / (v.array().sqrt() + eps);
}

}  // namespace

Mlp::Mlp(int n_inputs, int hidden_width, int hidden_layers, int n_outputs, std::uint64_t seed) {
  NL_CHECK(n_inputs >= 1 && n_outputs >= 1, "the network needs at least one input and output");
  NL_CHECK(hidden_width >= 1, "hidden_width must be >= 1; got " << hidden_width);
  NL_CHECK(hidden_layers >= 0, "hidden_layers must be >= 0; got " << hidden_layers);
  std::vector<int> sizes{n_inputs};
  for (int k = 0; k < hidden_layers; ++k) sizes.push_back(hidden_width);
  sizes.push_back(n_outputs);
  for (std::size_t k = 0; k + 1 < sizes.size(); ++k) {
    rng::Stream stream(seed, 1000 + k);
    const double bound = std::sqrt(6.0 / sizes[k]);
    RowMatrix<float> w(sizes[k], sizes[k + 1]);
    for (Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>(stream.uniform(-bound, bound));
    weights_.push_back(w);
    biases_.push_back(Vector<float>::Zero(sizes[k + 1]));
    grad_weights_.push_back(RowMatrix<float>::Zero(sizes[k], sizes[k + 1]));
    adam_m_weights_.push_back(RowMatrix<float>::Zero(sizes[k], sizes[k + 1]));
    adam_v_weights_.push_back(RowMatrix<float>::Zero(sizes[k], sizes[k + 1]));
    grad_biases_.push_back(Vector<float>::Zero(sizes[k + 1]));
    adam_m_biases_.push_back(Vector<float>::Zero(sizes[k + 1]));
    adam_v_biases_.push_back(Vector<float>::Zero(sizes[k + 1]));
  }
  activations_.resize(weights_.size());
}

namespace {

/// Rows per task of the batch-parallel loops. The split depends only on the batch size (so the
/// summed gradients do not depend on the thread count), and there are always at least two
/// tasks, so every GEMM runs inside a parallel region, where Eigen keeps it single-threaded
/// (Eigen's own threaded GEMM synchronises by spinning, which collapses on a busy machine).
Index chunk_rows(Index rows) { return std::max<Index>(1, std::min<Index>(1024, (rows + 1) / 2)); }

}  // namespace

void Mlp::forward_train(ConstRowMatrixRef<float> in, RowMatrix<float>& out) {
  NL_CHECK(in.cols() == n_inputs(), "the network expects " << n_inputs() << " inputs");
  const std::size_t layers = weights_.size();
  const Index rows = in.rows(), chunk = chunk_rows(rows);
  activations_[0] = in;
  for (std::size_t k = 1; k < layers; ++k) activations_[k].resize(rows, weights_[k].rows());
  out.resize(rows, n_outputs());
  parallel_for(0, (rows + chunk - 1) / chunk, [&](std::int64_t c) {
    const Index begin = c * chunk, size = std::min(chunk, rows - begin);
    for (std::size_t k = 0; k < layers; ++k) {
      auto next = k + 1 < layers ? activations_[k + 1].middleRows(begin, size)
                                 : out.middleRows(begin, size);
      next.noalias() = activations_[k].middleRows(begin, size) * weights_[k];
      next.rowwise() += biases_[k].transpose();
      if (k + 1 < layers) next = next.cwiseMax(0.0f);
    }
  });
}

void Mlp::backward(ConstRowMatrixRef<float> grad_out, RowMatrix<float>& grad_in) {
  const std::size_t layers = weights_.size();
  const Index rows = grad_out.rows(), chunk = chunk_rows(rows);
  const std::int64_t chunks = (rows + chunk - 1) / chunk;
  grad_in.resize(rows, n_inputs());
  // Per-chunk partial gradients and deltas are kept between calls: allocated afresh each step,
  // the larger ones were mapped and faulted in page by page every time (about a third of the
  // backward pass).
  if (static_cast<std::int64_t>(scratch_.size()) < chunks) scratch_.resize(chunks);
  parallel_for(0, chunks, [&](std::int64_t c) {
    const Index begin = c * chunk, size = std::min(chunk, rows - begin);
    ChunkScratch& s = scratch_[c];
    s.grad_weights.resize(layers);
    s.grad_biases.resize(layers);
    s.output_delta = grad_out.middleRows(begin, size);
    const RowMatrix<float>* delta = &s.output_delta;  // dL/d(output of layer k)
    for (std::size_t k = layers; k-- > 0;) {
      const auto input = activations_[k].middleRows(begin, size);
      s.grad_weights[k].noalias() = input.transpose() * *delta;
      s.grad_biases[k] = delta->colwise().sum().transpose();
      if (k > 0) {
        s.back.noalias() = *delta * weights_[k].transpose();
        // ReLU: the gradient passes where the activation was positive.
        s.hidden_delta = (input.array() > 0.0f).select(s.back, 0.0f);
        delta = &s.hidden_delta;
      } else {
        grad_in.middleRows(begin, size).noalias() = *delta * weights_[k].transpose();
      }
    }
  });
  for (std::size_t k = 0; k < layers; ++k) {  // fixed order: deterministic
    grad_weights_[k] = scratch_[0].grad_weights[k];
    grad_biases_[k] = scratch_[0].grad_biases[k];
    for (std::int64_t c = 1; c < chunks; ++c) {
      grad_weights_[k] += scratch_[c].grad_weights[k];
      grad_biases_[k] += scratch_[c].grad_biases[k];
    }
  }
}

void Mlp::adam_step(const AdamOptions& options, int t) {
  for (std::size_t k = 0; k < weights_.size(); ++k) {
    adam_update(weights_[k], grad_weights_[k], adam_m_weights_[k], adam_v_weights_[k], options, t);
    adam_update(biases_[k], grad_biases_[k], adam_m_biases_[k], adam_v_biases_[k], options, t);
  }
}

RowMatrix<float> Mlp::predict(ConstRowMatrixRef<float> in) const {
  NL_CHECK(in.cols() == n_inputs(), "the network expects " << n_inputs() << " inputs");
  const Index rows = in.rows(), chunk = chunk_rows(rows);
  RowMatrix<float> out(rows, n_outputs());
  parallel_for(0, (rows + chunk - 1) / chunk, [&](std::int64_t c) {
    const Index begin = c * chunk, size = std::min(chunk, rows - begin);
    RowMatrix<float> current = in.middleRows(begin, size);
    for (std::size_t k = 0; k < weights_.size(); ++k) {
      RowMatrix<float> next = current * weights_[k];
      next.rowwise() += biases_[k].transpose();
      if (k + 1 < weights_.size()) next = next.cwiseMax(0.0f);
      current = std::move(next);
    }
    out.middleRows(begin, size) = current;
  });
  return out;
}

}  // namespace nearlinear

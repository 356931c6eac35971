// A small fully-connected network (ReLU hidden layers, linear output) with Adam, for training
// neural fields on top of an encoding. float32; batches are rows.
#pragma once

#include <cstdint>
#include <vector>

#include "nearlinear/common.hpp"

namespace nearlinear {

/// Hyper-parameters of Adam (Kingma and Ba 2015), with instant-ngp's defaults.
struct AdamOptions {
  double learning_rate = 1e-2;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double epsilon = 1e-15;
};

/// n_inputs -> hidden_width (ReLU) x hidden_layers -> n_outputs (linear).
class Mlp {
 public:
  /// Weights He-uniform from seed, biases zero. Throws std::invalid_argument for sizes < 1
  /// (hidden_layers >= 0; with 0 the network is one linear layer).
  Mlp(int n_inputs, int hidden_width, int hidden_layers, int n_outputs, std::uint64_t seed);

  int n_inputs() const { return static_cast<int>(weights_.front().rows()); }
  int n_outputs() const { return static_cast<int>(weights_.back().cols()); }

  /// out (#B by #n_outputs) for in (#B by #n_inputs), keeping the activations for backward.
  void forward_train(ConstRowMatrixRef<float> in, RowMatrix<float>& out);
  /// Given dL/dout (#B by #n_outputs) of the last forward_train: store the weight gradients
  /// and return dL/din (#B by #n_inputs) in grad_in.
  void backward(ConstRowMatrixRef<float> grad_out, RowMatrix<float>& grad_in);
  /// One Adam step (t = step count, from 1) with the stored gradients.
  void adam_step(const AdamOptions& options, int t);
  /// out for in, no state kept.
  RowMatrix<float> predict(ConstRowMatrixRef<float> in) const;

 private:
  std::vector<RowMatrix<float>> weights_;  // layer k: in_k by out_k
  std::vector<Vector<float>> biases_;
  std::vector<RowMatrix<float>> activations_;  // input of each layer, from forward_train
  std::vector<RowMatrix<float>> grad_weights_, adam_m_weights_, adam_v_weights_;
  std::vector<Vector<float>> grad_biases_, adam_m_biases_, adam_v_biases_;
  // Per-chunk work space of backward, reused between calls (every hidden layer has the same
  // width, so the hidden deltas keep one shape).
  struct ChunkScratch {
    std::vector<RowMatrix<float>> grad_weights;
    std::vector<Vector<float>> grad_biases;
    RowMatrix<float> output_delta, hidden_delta, back;
  };
  std::vector<ChunkScratch> scratch_;
};

}  // namespace nearlinear

// Bindings of the hash encoding and the neural-field trainer.
#include <pybind11/eigen.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "nearlinear/encoding.hpp"
#include "nearlinear/neural_field.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {
namespace {

Lattice parse_lattice(const std::string& name) {
  if (name == "simplex") return Lattice::Simplex;
  if (name == "cube") return Lattice::Cube;
  throw std::invalid_argument("lattice must be 'simplex' or 'cube'; got '" + name + "'");
}

HashGridConfig make_config(int n_dims, const std::string& lattice, int n_levels,
                           int features_per_level, int log2_table_size, int base_resolution,
                           double per_level_scale) {
  HashGridConfig c;
  c.n_dims = n_dims;
  c.lattice = parse_lattice(lattice);
  c.n_levels = n_levels;
  c.features_per_level = features_per_level;
  c.log2_table_size = log2_table_size;
  c.base_resolution = base_resolution;
  c.per_level_scale = per_level_scale;
  return c;
}

using ConstRef = ConstRowMatrixRef<float>;

}  // namespace

void bind_encoding(py::module_& m) {
  py::class_<HashGrid>(m, "HashGrid", "Geometry of a multiresolution hash encoding.")
      .def(py::init([](int n_dims, const std::string& lattice, int n_levels, int features,
                       int log2_table_size, int base_resolution, double per_level_scale) {
             return HashGrid(make_config(n_dims, lattice, n_levels, features, log2_table_size,
                                         base_resolution, per_level_scale));
           }),
           py::arg("n_dims"), py::arg("lattice"), py::arg("n_levels"),
           py::arg("features_per_level"), py::arg("log2_table_size"),
           py::arg("base_resolution"), py::arg("per_level_scale"))
      .def_property_readonly("table_size", &HashGrid::table_size)
      .def_property_readonly("output_dims", &HashGrid::output_dims)
      .def_property_readonly("resolutions", &HashGrid::resolutions)
      .def_property_readonly("dense_levels", &HashGrid::dense_levels)
      .def(
          "init_params",
          [](const HashGrid& grid, RowMatrixRef<float> params, std::uint64_t seed) {
            py::gil_scoped_release release;
            grid.init_params(params, seed);
          },
          py::arg("params").noconvert(), py::arg("seed"))
      .def(
          "forward_into",
          [](const HashGrid& grid, ConstRef x, ConstRef params, RowMatrixRef<float> out) {
            py::gil_scoped_release release;
            grid.forward(x, params, out);
          },
          py::arg("x").noconvert(), py::arg("params").noconvert(), py::arg("out").noconvert())
      .def(
          "backward_params",
          [](const HashGrid& grid, ConstRef x, ConstRef grad_output, RowMatrixRef<float> out) {
            py::gil_scoped_release release;
            grid.backward_params(x, grad_output, out);
          },
          py::arg("x").noconvert(), py::arg("grad_output").noconvert(),
          py::arg("out").noconvert())
      .def(
          "backward_input",
          [](const HashGrid& grid, ConstRef x, ConstRef params, ConstRef grad_output) {
            py::gil_scoped_release release;
            RowMatrix<float> grad(x.rows(), x.cols());
            grid.backward_input(x, params, grad_output, grad);
            return grad;
          },
          py::arg("x").noconvert(), py::arg("params").noconvert(),
          py::arg("grad_output").noconvert());

  py::class_<FieldTrainingLog>(m, "FieldTrainingLog")
      .def_readonly("loss", &FieldTrainingLog::loss)
      .def_readonly("time", &FieldTrainingLog::time)
      .def_readonly("eval_step", &FieldTrainingLog::eval_step)
      .def_readonly("eval_time", &FieldTrainingLog::eval_time)
      .def_readonly("eval_psnr", &FieldTrainingLog::eval_psnr);

  py::class_<NeuralField>(m, "NeuralField", "Hash encoding followed by a small ReLU MLP.")
      .def(py::init([](const HashGrid& grid, int n_outputs, int hidden_width, int hidden_layers,
                       std::uint64_t seed) {
             return NeuralField(grid.config(), n_outputs, hidden_width, hidden_layers, seed);
           }),
           py::arg("grid"), py::arg("n_outputs"), py::arg("hidden_width"),
           py::arg("hidden_layers"), py::arg("seed"))
      .def(
          "fit_image",
          [](NeuralField& field, ConstRef pixels, int height, int width, int steps,
             int batch_size, double learning_rate, int eval_every, std::uint64_t seed,
             const py::object& on_step) {
            FieldTrainingOptions options;
            options.steps = steps;
            options.batch_size = batch_size;
            options.learning_rate = learning_rate;
            options.eval_every = eval_every;
            options.seed = seed;
            if (!on_step.is_none()) {
              // Holds a reference to on_step, which outlives the call (the caller keeps it);
              // the GIL is taken back for each call.
              const py::handle hook = on_step;
              options.on_step = [hook](int step, float loss) {
                py::gil_scoped_acquire acquire;
                return py::cast<bool>(hook(step, loss));
              };
            }
            py::gil_scoped_release release;
            return field.fit_image(pixels, height, width, options);
          },
          py::arg("pixels").noconvert(), py::arg("height"), py::arg("width"), py::arg("steps"),
          py::arg("batch_size"), py::arg("learning_rate"), py::arg("eval_every"),
          py::arg("seed"), py::arg("on_step") = py::none())
      .def(
          "predict",
          [](const NeuralField& field, ConstRef x) {
            py::gil_scoped_release release;
            return field.predict(x);
          },
          py::arg("x").noconvert())
      .def_property_readonly("params", [](const NeuralField& field) { return field.params(); });
}

}  // namespace nearlinear::bindings

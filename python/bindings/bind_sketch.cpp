// Sketch operators (filled in by the sketch work).
#include "bindings.hpp"

namespace nearlinear::bindings {
void bind_sketch(pybind11::module_& m) { (void)m; }
}  // namespace nearlinear::bindings

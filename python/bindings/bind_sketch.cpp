// Bindings of the sketch part of the core (to be written).
#include "bindings.hpp"

namespace nearlinear::bindings {
void bind_sketch(pybind11::module_& m) { (void)m; }
}  // namespace nearlinear::bindings

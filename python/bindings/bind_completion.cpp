// Bindings of the completion part of the core (to be written).
#include "bindings.hpp"

namespace nearlinear::bindings {
void bind_completion(pybind11::module_& m) { (void)m; }
}  // namespace nearlinear::bindings

// Bindings of the encoding part of the core (to be written).
#include "bindings.hpp"

namespace nearlinear::bindings {
void bind_encoding(pybind11::module_& m) { (void)m; }
}  // namespace nearlinear::bindings

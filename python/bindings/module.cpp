// The private extension module nearlinear._core (or _core_avx2): only registration here.
#include "bindings.hpp"

PYBIND11_MODULE(NEARLINEAR_MODULE_NAME, m) {
  m.doc() = "nearlinear's compiled core (private: use the nearlinear package)";
  m.attr("__version__") = NEARLINEAR_VERSION;
  using namespace nearlinear::bindings;
  bind_runtime(m);
  bind_sketch(m);
  bind_lstsq(m);
  bind_completion(m);
  bind_encoding(m);
  bind_ot(m);
}

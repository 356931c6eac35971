// Thread control, interruption and build information.
#include <Eigen/Core>

#include "bindings.hpp"
#include "nearlinear/interrupt.hpp"
#include "nearlinear/parallel.hpp"

namespace py = pybind11;

namespace nearlinear::bindings {
namespace {

/// Python's main thread, the only one where signal handlers run.
unsigned long main_thread = 0;

/// The core's interrupt check: on the main thread, runs Python's signal handlers (Ctrl-C's
/// raises KeyboardInterrupt) and asks the solver to stop when one raised, leaving its
/// exception pending for the translator below. Other threads never take the GIL for it.
bool python_signal_raised() {
  if (PyThread_get_thread_ident() != main_thread) return false;
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

}  // namespace

void bind_runtime(py::module_& m) {
  main_thread = py::module_::import("threading").attr("main_thread")().attr("ident")
                    .cast<unsigned long>();
  set_interrupt_check(&python_signal_raised);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Interrupted&) {
      if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Set the thread count of every parallel loop in the core.");
  m.def("get_num_threads", &get_num_threads, "The thread count parallel loops use.");
  m.attr("MAX_THREADS") = kMaxThreads;
  m.def(
      "build_info",
      [] {
        py::dict info;
        info["eigen_version"] = std::to_string(EIGEN_WORLD_VERSION) + "." +
                                std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                std::to_string(EIGEN_MINOR_VERSION);
        info["simd"] = std::string(Eigen::SimdInstructionSetsInUse());
        info["variant"] = NEARLINEAR_VARIANT;
        info["openmp"] = _OPENMP;
        py::list features;
#ifdef __AVX2__
        features.append("avx2");
#endif
#ifdef __FMA__
        features.append("fma");
#endif
#ifdef __AVX512F__
        features.append("avx512f");
#endif
        info["cpu_features"] = features;
        return info;
      },
      "Compile-time facts: Eigen version, SIMD instruction sets, OpenMP version.");
}

}  // namespace nearlinear::bindings

// One bind_* function per part of the core; module.cpp calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace nearlinear::bindings {
void bind_runtime(pybind11::module_& m);
void bind_sketch(pybind11::module_& m);
}  // namespace nearlinear::bindings

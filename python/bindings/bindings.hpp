// One bind_* function per part of the core, each in its own bind_<part>.cpp;
// module.cpp calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace nearlinear::bindings {
void bind_runtime(pybind11::module_& m);
void bind_sketch(pybind11::module_& m);
void bind_lstsq(pybind11::module_& m);
void bind_completion(pybind11::module_& m);
void bind_encoding(pybind11::module_& m);
void bind_ot(pybind11::module_& m);
}  // namespace nearlinear::bindings

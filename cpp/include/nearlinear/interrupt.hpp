// Cooperative interruption of long calls: the iterative solvers ask, between iterations,
// whether their caller wants them to stop (Ctrl-C in Python), and stop with an exception.
#pragma once

#include <stdexcept>

namespace nearlinear {

/// Thrown by check_interrupt when the installed check asks to stop. Whoever installed the
/// check knows why (the Python binding leaves the pending Python exception in place).
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

/// Returns true when the running call should stop. Called on the thread that made the call,
/// outside any parallel region.
using InterruptCheck = bool (*)();

/// Install the check every solver consults (nullptr, the default: never stop).
void set_interrupt_check(InterruptCheck check);

/// Called by iterative solvers between iterations. Runs the installed check at most every
/// 100 ms per thread (a clock read otherwise) and throws Interrupted when it asks to stop.
/// Does nothing inside a parallel region.
void check_interrupt();

}  // namespace nearlinear

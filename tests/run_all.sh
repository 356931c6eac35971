#!/usr/bin/env bash
# Every test of nearlinear, from a fresh clone: installs what the tests need (GoogleTest from
# Debian's packages when missing, the package with its [test] extra), then runs the C++ unit
# tests (ctest) and the Python suite (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

bash tests/install_gtest.sh

echo "== building and installing nearlinear[test]"
python3 -m pip install --quiet --upgrade pip cmake ninja
python3 -m pip install ".[test]"

echo "== C++ unit tests"
python3 -m pip install --quiet pybind11 cmeel-eigen  # CMake finds Eigen through the Python prefix
cmake -S . -B build/cpp-tests -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON \
  -DNEARLINEAR_BUILD_PYTHON=OFF -DNEARLINEAR_ARCH=native -DPython_EXECUTABLE="$(command -v python3)"
cmake --build build/cpp-tests -j "$JOBS"
ctest --test-dir build/cpp-tests --output-on-failure -j "$JOBS"

echo "== Python tests"
python3 -m pytest tests -q

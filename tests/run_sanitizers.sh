#!/usr/bin/env bash
# The C++ unit tests and the Python suite against a core built with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC's). Not part of .ci/run: the instrumented builds take about
# 15 minutes on 2 cores. Run tests/run_all.sh once first (it installs GoogleTest and the test
# dependencies this script uses).
#
# Any report fails the run: AddressSanitizer stops the process at its first error, and
# UndefinedBehaviorSanitizer's reports go to log files under build/sanitize/logs (pytest would
# otherwise swallow them with a passing test's output), which are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
OUT=build/sanitize
FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
# -O1: the instrumented Eigen code builds in half the time of -O3 and still runs the suite
# in a few minutes.
OPT="-O1 -DNDEBUG"

bash tests/install_gtest.sh
if ! python3 -c "import pytest, sklearn, ot" 2>/dev/null; then
  echo "the Python suite needs the test dependencies: run tests/run_all.sh first" >&2
  exit 2
fi
rm -rf "$OUT/logs" "$OUT/site"
mkdir -p "$OUT/logs"
LOGS="$(cd "$OUT/logs" && pwd)"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$LOGS/ubsan"

echo "== C++ unit tests (ASan + UBSan)"
python3 -m pip install --quiet pybind11 cmeel-eigen  # CMake finds Eigen through the Python prefix
cmake -S . -B "$OUT/cpp" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="$OPT" \
  -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" -DBUILD_TESTING=ON \
  -DNEARLINEAR_BUILD_PYTHON=OFF -DNEARLINEAR_ARCH=native -DPython_EXECUTABLE="$(command -v python3)"
cmake --build "$OUT/cpp" -j "$JOBS"
status=0
ASAN_OPTIONS="log_path=$LOGS/asan-cpp" ctest --test-dir "$OUT/cpp" --output-on-failure -j "$JOBS" \
  || status=1

echo "== Python tests (ASan + UBSan)"
# A private copy of the package, built with the sanitizers and found first on PYTHONPATH; the
# interpreter itself is not instrumented, so the runtimes are preloaded. CPython keeps
# objects alive until exit, so leak detection is off here.
CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" NEARLINEAR_ARCH=native python3 -m pip install --quiet \
  --no-deps --target "$OUT/site" . -Cbuild-dir="$OUT/python" -Ccmake.build-type=Release \
  -Ccmake.define.CMAKE_CXX_FLAGS_RELEASE="$OPT" -Ccmake.define.CMAKE_CXX_FLAGS="$FLAGS" \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="$FLAGS" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="$FLAGS"
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$LOGS/asan-python" PYTHONPATH="$(pwd)/$OUT/site" \
  python3 -m pytest tests -q -p no:cacheprovider || status=1

if compgen -G "$LOGS/*" > /dev/null; then
  echo "== sanitizer reports" >&2
  cat "$LOGS"/* >&2
  exit 1
fi
[ "$status" -eq 0 ] && echo "== no sanitizer reports"
exit "$status"

# Eigen 3.4: from PyPI's cmeel-eigen (a build requirement), which installs its CMake config
# under <site-packages>/cmeel.prefix -- a prefix CMake does not search by itself. Look for it
# under every prefix we were given and under the running Python's site-packages; fall back to
# a system Eigen (Debian's libeigen3-dev).
find_package(Python 3.8 COMPONENTS Interpreter Development.Module QUIET)
set(_nl_prefixes ${CMAKE_PREFIX_PATH})
if(Python_EXECUTABLE)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "import site, sysconfig; print(';'.join([sysconfig.get_paths()['purelib']] + site.getsitepackages()))"
    OUTPUT_VARIABLE _nl_site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  list(APPEND _nl_prefixes ${_nl_site})
endif()
foreach(_p IN LISTS _nl_prefixes)
  if(EXISTS "${_p}/cmeel.prefix")
    list(APPEND CMAKE_PREFIX_PATH "${_p}/cmeel.prefix")
  endif()
endforeach()
find_package(Eigen3 3.4 CONFIG REQUIRED)
message(STATUS "nearlinear: Eigen ${Eigen3_VERSION} from ${Eigen3_DIR}")

find_package(OpenMP REQUIRED COMPONENTS CXX)

if(NEARLINEAR_BUILD_PYTHON)
  find_package(pybind11 CONFIG QUIET)
  if(NOT pybind11_FOUND AND Python_EXECUTABLE)
    execute_process(COMMAND "${Python_EXECUTABLE}" -m pybind11 --cmakedir
                    OUTPUT_VARIABLE pybind11_DIR OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  find_package(pybind11 CONFIG REQUIRED)
endif()

import os
import subprocess
import sys

import pytest

import nearlinear


def test_thread_count_round_trips():
    before = nearlinear.get_num_threads()
    try:
        nearlinear.set_num_threads(1)
        assert nearlinear.get_num_threads() == 1
    finally:
        nearlinear.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -3, 1025, 10**9])
def test_thread_count_must_be_in_range(bad):
    # An absurd count is refused, where OpenMP would abort the process creating the team.
    before = nearlinear.get_num_threads()
    with pytest.raises(ValueError, match="`n`"):
        nearlinear.set_num_threads(bad)
    assert nearlinear.get_num_threads() == before


def test_thread_count_must_be_integer():
    with pytest.raises(TypeError, match="`n`"):
        nearlinear.set_num_threads(1.5)


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_thread_count_from_environment():
    out = _run("import nearlinear; print(nearlinear.get_num_threads())",
               NEARLINEAR_NUM_THREADS="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("value", ["zero", "0", "100000"])
def test_bad_environment_thread_count_is_a_clear_error(value):
    out = _run("import nearlinear", NEARLINEAR_NUM_THREADS=value)
    assert out.returncode != 0
    assert "NEARLINEAR_NUM_THREADS" in out.stderr


def test_baseline_variant_can_be_forced():
    out = _run("import nearlinear; print(nearlinear.build_info()['variant'])",
               NEARLINEAR_CPU="baseline")
    assert out.returncode == 0, out.stderr
    # a portable build falls back to its baseline copy; a single-variant build has only one
    assert out.stdout.strip() in ("baseline", "native")


def test_build_info():
    info = nearlinear.build_info()
    assert info["version"] == nearlinear.__version__
    assert info["eigen_version"].startswith("3.4")


def test_cli_help():
    from nearlinear.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0

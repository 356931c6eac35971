from ._core import *  # noqa: F401,F403 (same module, built for x86-64-v3)

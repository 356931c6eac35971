"""A progress bar: tqdm when it is installed, a plain stderr counter otherwise."""

from __future__ import annotations

import sys


class _PlainBar:
    def __init__(self, total, desc, disable):
        self.total, self.desc, self.disable, self.n = total, desc, disable, 0

    def set_postfix_str(self, text):
        self.postfix = text

    def update(self, k=1):
        self.n += k
        if not self.disable:
            sys.stderr.write(f"\r{self.desc}: {self.n}/{self.total}")
            sys.stderr.flush()

    def close(self):
        if not self.disable:
            sys.stderr.write("\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_bar(total=None, desc: str = "", disable: bool = False, leave: bool = True):
    """A context-manager progress bar with ``update(k)``, ``set_postfix_str`` and ``close``."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(total, desc, disable)
    return tqdm(total=total, desc=desc, disable=disable, leave=leave, file=sys.stderr)

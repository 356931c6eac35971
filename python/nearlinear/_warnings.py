"""Warning classes of nearlinear."""

from __future__ import annotations


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration limit before reaching its tolerance."""

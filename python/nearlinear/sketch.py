"""Random sketch operators: compress tall data ``A`` (n x d) to ``S @ A`` (m x d), m << n.

A sketch ``S`` is an m x n random matrix with E[SᵀS] = I, so ``‖S A x‖ ≈ ‖A x‖`` for every
``x``: least-squares and low-rank solvers work on the small ``S @ A`` instead of ``A``.
``S`` is a pure function of ``(kind, m, n, seed, nnz_per_column)`` and is never stored: the
same specification always gives the same ``S``, on any number of threads, so sketching ``A``
and ``b`` in two calls with the same ``seed`` is consistent.

Kinds
-----
``"sparse_sign"``
    Each column of S has ``nnz_per_column`` (s) nonzeros ±1/√s at distinct random rows;
    ``nnz_per_column=1`` is CountSketch. Cost O(s · nnz(A)): the fastest kind.
``"srht"``
    Subsampled randomized Hadamard transform S = √(N/m) P H D: random signs D, the
    orthonormal Walsh–Hadamard transform H of order N (the rows of A zero-padded to the next
    power of two), and a uniform sample P of m distinct rows. Cost O(N d log m).
``"gaussian"``
    I.i.d. N(0, 1/m) entries (drawn in single precision), generated on the fly in blocks and
    applied with a GEMM. Cost O(m n d).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._native import core as _core
from ._validation import (
    as_csr_or_csc,
    as_float_array,
    check_choice,
    check_int,
    resolve_seed,
    sparse_arrays,
)

__all__ = ["KINDS", "SketchOperator", "sketch"]

KINDS = ("sparse_sign", "srht", "gaussian")


class SketchOperator:
    """A random m x n sketch matrix S, applied without being formed.

    Parameters
    ----------
    kind : {"sparse_sign", "srht", "gaussian"}
        The distribution of S (see :mod:`nearlinear.sketch`).
    m : int
        Rows of S: the sketch size, ``m >= 1`` (and ``m <= N``, the next power of two
        ``>= n``, for ``"srht"``).
    n : int
        Columns of S: the number of rows of the data it is applied to.
    seed : None, int or numpy.random.Generator, optional
        The seed of S. ``None`` draws a fresh seed once, at construction; the operator keeps
        it, so every ``apply`` uses the same S.
    nnz_per_column : int or None, default None
        ``"sparse_sign"`` only: nonzeros per column of S, ``1 <= nnz_per_column <= m``;
        None means ``min(8, m)``.

    Attributes
    ----------
    kind, m, n : as given
    nnz_per_column : int
        As given, or its default ``min(8, m)``.
    seed : int
        The resolved seed; ``SketchOperator(kind, m, n, seed=op.seed)`` is the same operator.
    shape : tuple of int
        ``(m, n)``.

    Examples
    --------
    >>> import numpy as np, nearlinear
    >>> A = np.random.default_rng(0).standard_normal((10000, 20))
    >>> S = nearlinear.sketch.SketchOperator("sparse_sign", 200, 10000, seed=1)
    >>> (S @ A).shape
    (200, 20)
    """

    def __init__(self, kind: str = "sparse_sign", m: int = 1, n: int = 1, *, seed=None,
                 nnz_per_column: int | None = None):
        self.kind = check_choice(kind, "kind", KINDS)
        self.m = check_int(m, "m", minimum=1)
        self.n = check_int(n, "n", minimum=1)
        if nnz_per_column is None:
            nnz_per_column = min(8, self.m)
        self.nnz_per_column = check_int(nnz_per_column, "nnz_per_column", minimum=1,
                                        maximum=2**31 - 1)
        if self.kind == "sparse_sign" and self.nnz_per_column > self.m:
            raise ValueError(
                f"`nnz_per_column` must be in [1, m] = [1, {self.m}]; got {self.nnz_per_column}")
        if self.m >= 2**31:
            raise ValueError(f"`m` must be below 2**31; got {self.m}")
        if self.n > 2**40:
            raise ValueError(f"`n` must be at most 2**40; got {self.n}")
        if self.kind == "srht":
            padded = _core.srht_padded_size(self.n)
            if self.m > padded:
                raise ValueError(
                    f"`m` must be at most {padded} (n = {self.n} padded to a power of two) for "
                    f"an srht sketch; got {self.m}")
        self.seed = resolve_seed(seed)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    def __repr__(self) -> str:
        extra = f", nnz_per_column={self.nnz_per_column}" if self.kind == "sparse_sign" else ""
        return (f"SketchOperator({self.kind!r}, m={self.m}, n={self.n}, seed={self.seed}"
                f"{extra})")

    def apply(self, A):
        """``S @ A``.

        Parameters
        ----------
        A : array_like of shape (n,) or (n, d), or scipy.sparse matrix of shape (n, d)
            float32 or float64 data. Dense arrays in C or Fortran order are read in place
            (other strides are copied once); sparse matrices in any format (CSR and CSC are
            read in place, others converted to CSR). Never modified.

        Returns
        -------
        numpy.ndarray of shape (m,) or (m, d)
            ``S @ A`` in A's dtype (dense, C order, even for a sparse A).

        Raises
        ------
        TypeError
            If ``A`` is not float32/float64 (int, bool, complex and object arrays are refused).
        ValueError
            If ``A`` is empty, has the wrong shape or holds NaN or inf.
        """
        args = (self.kind, self.m, self.seed, self.nnz_per_column)
        if sp.issparse(A):
            if A.ndim != 2 or A.shape[0] != self.n:
                raise ValueError(f"`A` must have shape ({self.n}, d) with n = {self.n} (the "
                                 f"sketch's column count); got {A.shape}")
            A = as_csr_or_csc(A, "A", finite=False)
            indptr, indices, data = sparse_arrays(A)
            return _core.sketch_sparse(*args, A.shape[0], A.shape[1], A.format == "csr",
                                       indptr, indices, data)
        A = as_float_array(A, "A", ndim=(1, 2), order="K", finite=False)
        if A.shape[0] != self.n:
            want = f"({self.n},) or ({self.n}, d)"
            raise ValueError(f"`A` must have shape {want} with n = {self.n} (the sketch's column "
                             f"count); got {A.shape}")
        if not (A.flags.c_contiguous or A.flags.f_contiguous):
            A = np.ascontiguousarray(A)
        if A.ndim == 1:
            return _core.sketch_dense(*args, A.reshape(-1, 1))[:, 0]
        return _core.sketch_dense(*args, A)

    def __matmul__(self, A):
        return self.apply(A)

    def to_dense(self) -> np.ndarray:
        """S as a dense float64 array of shape (m, n) (for tests and small problems)."""
        if self.m * self.n > 2**31:
            raise ValueError(f"the dense sketch would have m * n = {self.m * self.n} entries; "
                             "to_dense is meant for small problems")
        return _core.sketch_matrix(self.kind, self.m, self.n, self.seed, self.nnz_per_column)


def sketch(A, m: int, kind: str = "sparse_sign", *, seed=None, nnz_per_column: int | None = None):
    """Sketch the rows of ``A``: return ``S @ A`` for a random m x n sketch S.

    Parameters
    ----------
    A : array_like of shape (n,) or (n, d), or scipy.sparse matrix of shape (n, d)
        float32 or float64 data (see :meth:`SketchOperator.apply`).
    m : int
        The sketch size (rows of the result).
    kind : {"sparse_sign", "srht", "gaussian"}, default "sparse_sign"
        The distribution of S (see :mod:`nearlinear.sketch`).
    seed : None, int or numpy.random.Generator, optional
        The seed of S. Pass the same int to sketch ``A`` and ``b`` with the same S; ``None``
        draws a fresh S each call.
    nnz_per_column : int or None, default None
        ``"sparse_sign"`` only: nonzeros per column of S (1 is CountSketch); None means
        ``min(8, m)``.

    Returns
    -------
    numpy.ndarray of shape (m,) or (m, d)
        ``S @ A`` in A's dtype.

    Examples
    --------
    >>> import numpy as np, nearlinear
    >>> rng = np.random.default_rng(0)
    >>> A, b = rng.standard_normal((100000, 50)), rng.standard_normal(100000)
    >>> SA = nearlinear.sketch.sketch(A, 400, seed=7)
    >>> Sb = nearlinear.sketch.sketch(b, 400, seed=7)   # the same S
    >>> SA.shape, Sb.shape
    ((400, 50), (400,))
    """
    if sp.issparse(A):
        A = as_csr_or_csc(A, "A", finite=False)
    else:
        A = as_float_array(A, "A", ndim=(1, 2), order="K", finite=False)
    operator = SketchOperator(kind, m, A.shape[0], seed=seed, nnz_per_column=nnz_per_column)
    return operator.apply(A)

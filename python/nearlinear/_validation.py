"""Argument checks shared by every public function.

Each check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong
shape or value) naming the argument, before any numerical work is done.
"""

from __future__ import annotations

import numbers
import operator
import os

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype, name: str) -> np.dtype:
    """The dtype if it is float32 or float64; TypeError otherwise."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"`{name}` must have dtype float32 or float64; got {dtype}")
    return dtype


def as_float_array(
    x,
    name: str,
    *,
    ndim=None,
    dtype=None,
    order: str = "C",
    allow_empty: bool = False,
    finite: bool = True,
    copy: bool = False,
) -> np.ndarray:
    """Convert ``x`` to a float32/float64 NumPy array with the given ``order``.

    Integer and boolean inputs are refused (a float array is required so that no silent
    copy to float64 hides a dtype mistake); ``dtype`` forces a float dtype. ``ndim`` is an
    int or a tuple of allowed ndims. Read-only and non-contiguous inputs are accepted and
    copied only when the layout requires it.
    """
    if sp.issparse(x):
        raise TypeError(f"`{name}` must be a dense array; got a scipy.sparse matrix")
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"`{name}` could not be converted to an array: {exc}") from None
    if arr.dtype.kind == "f" and not arr.dtype.isnative and arr.dtype.newbyteorder("=") in FLOAT_DTYPES:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # byte-swapped data, e.g. read from a file
    if arr.dtype.kind not in "f" or arr.dtype not in FLOAT_DTYPES:
        if dtype is not None and arr.dtype.kind in "iub":
            arr = arr.astype(dtype)
        else:
            raise TypeError(
                f"`{name}` must be a float32 or float64 array; got dtype {arr.dtype}"
            )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"`{name}` must be {want}; got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}")
    if dtype is not None:
        dtype = check_float_dtype(dtype, name)
    arr = np.array(arr, dtype=dtype, order=order, copy=True) if copy else np.asarray(
        arr, dtype=dtype, order=order
    )
    if order == "C" and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(arr, name: str) -> None:
    """ValueError if ``arr`` (dense array or scipy.sparse matrix) holds NaN or inf."""
    data = arr.data if sp.issparse(arr) else arr
    if data.size and not np.isfinite(data).all():
        raise ValueError(f"`{name}` must not contain NaN or inf")


def check_sparse_structure(x, name: str, *, check_indices: bool = False) -> None:
    """ValueError unless the index arrays of a CSR, CSC, BSR or COO matrix fit its shape.

    SciPy's own routines (``has_canonical_format``, ``sum_duplicates``, ``tocoo``,
    ``tocsr``) trust them: a decreasing or too long ``indptr``, or COO coordinates outside the
    shape, make them read or write out of bounds. Checked here before any of them runs, in
    O(rows) for CSR/CSC/BSR (the column indices are checked where they are read, or here too,
    in O(nnz), with ``check_indices=True``) and O(nnz) for COO (whose conversion is O(nnz)
    anyway). Other formats are SciPy's to keep consistent.
    """
    malformed = f"sparse `{name}` is malformed: "
    if x.format in ("csr", "csc", "bsr"):
        major = {"csr": x.shape[0], "csc": x.shape[1]}.get(x.format)
        if major is None:  # bsr: rows of blocks, data of shape (blocks, R, C)
            major = x.shape[0] // x.blocksize[0]
        indptr, indices, data = x.indptr, x.indices, x.data
        if (indptr.ndim != 1 or indices.ndim != 1 or data.ndim != (3 if x.format == "bsr" else 1)
                or len(indptr) != major + 1):
            raise ValueError(malformed + f"indptr must be 1-D of length {major + 1}, indices 1-D "
                             "and data as long")
        if not (indptr[0] == 0 and indptr[-1] <= min(len(indices), len(data))
                and (indptr[1:] >= indptr[:-1]).all()):
            raise ValueError(malformed + "indptr must be non-decreasing from 0 to at most "
                             "len(indices)")
        if check_indices and x.format != "bsr":
            minor = x.shape[1] if x.format == "csr" else x.shape[0]
            used = indices[:indptr[-1]]
            if used.size and not (used.min() >= 0 and used.max() < minor):
                raise ValueError(malformed + f"its indices must be in [0, {minor})")
    elif x.format == "coo":
        coords = (x.row, x.col)
        for axis, c in enumerate(coords):
            if c.ndim != 1 or len(c) != len(x.data):
                raise ValueError(malformed + "row, col and data must be 1-D of equal length")
            if len(c) and not (c.min() >= 0 and c.max() < x.shape[axis]):
                raise ValueError(malformed + f"{('row', 'col')[axis]} indices must be in "
                                 f"[0, {x.shape[axis]})")


def as_csr_or_csc(x, name: str, *, dtype=None, finite: bool = True):
    """A scipy.sparse matrix as canonical CSR or CSC with float data and int64 indices.

    Other sparse formats are converted to CSR.
    """
    if not sp.issparse(x):
        raise TypeError(f"`{name}` must be a scipy.sparse matrix; got {type(x).__name__}")
    check_sparse_structure(x, name)
    if x.format not in ("csr", "csc"):
        x = x.tocsr()
    if x.dtype.kind in "iub" and dtype is not None:
        x = x.astype(dtype)
    if x.dtype.kind == "f" and not x.dtype.isnative and x.dtype.newbyteorder("=") in FLOAT_DTYPES:
        x = x.astype(x.dtype.newbyteorder("="))
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"`{name}` must have dtype float32 or float64; got {x.dtype}")
    if dtype is not None:
        x = x.astype(check_float_dtype(dtype, name), copy=False)
    if min(x.shape) == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {x.shape}")
    if not x.has_canonical_format:
        x = x.copy()
        x.sum_duplicates()
    if finite:
        check_finite(x, name)
    return x


def sparse_arrays(x):
    """(indptr, indices, data) of a CSR/CSC matrix, with int64 index arrays."""
    return (
        np.ascontiguousarray(x.indptr, dtype=np.int64),
        np.ascontiguousarray(x.indices, dtype=np.int64),
        np.ascontiguousarray(x.data),
    )


def check_int(value, name: str, *, minimum=None, maximum=None) -> int:
    """``value`` as a Python int within [minimum, maximum]; bools and floats are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {value!r}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}; got {value}")
    return value


def check_real(value, name: str, *, minimum=None, maximum=None, strict_minimum=False) -> float:
    """``value`` as a finite Python float within the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"`{name}` must be finite; got an integer beyond the float range "
                         f"({len(str(abs(value)))} digits)") from None
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite; got {value}")
    if minimum is not None:
        if strict_minimum and value <= minimum:
            raise ValueError(f"`{name}` must be > {minimum}; got {value}")
        if not strict_minimum and value < minimum:
            raise ValueError(f"`{name}` must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}; got {value}")
    return value


def check_flag(value, name: str) -> bool:
    """``value`` as a bool: True or False (NumPy's too, and the integers 0 and 1); anything
    else is refused rather than judged by its truth value (an array's is an error without
    the argument's name, a string's is always True)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False; got {value!r}")


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices`` (strings); ValueError listing them otherwise."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {listed}; got {value!r}")
    return value


def resolve_seed(seed, name: str = "seed") -> int:
    """A 63-bit integer seed from None (fresh entropy), an int, or a numpy Generator."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, 2**31 - 1))
    return check_int(seed, name, minimum=0, maximum=2**64 - 1)


def physical_memory() -> int | None:
    """Bytes of memory of this machine, or None where the platform does not say (for refusing,
    before any work, what cannot be allocated)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None

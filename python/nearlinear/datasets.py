"""Readers for public data sets in their official file formats.

nearlinear never ships or downloads data: every reader takes a path the user supplies.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

__all__ = ["Ratings", "load_movielens"]

_SPLIT = re.compile(r"^u([1-5]|[ab])$")


@dataclasses.dataclass(frozen=True)
class Ratings:
    """Explicit ratings as COO triplets with 0-based indices.

    Attributes
    ----------
    rows : ndarray of shape (N,), int64
        User index: the file's user id minus 1.
    cols : ndarray of shape (N,), int64
        Item index: the file's item id minus 1.
    values : ndarray of shape (N,), float64
        The ratings.
    timestamps : ndarray of shape (N,), int64
        Unix seconds.
    shape : (int, int)
        (number of users, number of items).
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray
    shape: tuple

    def __len__(self) -> int:
        return int(self.values.size)


def _read_ratings_file(path: str) -> np.ndarray:
    """The (N, 4) int64 table of a tab-separated ``user item rating timestamp`` file."""
    try:
        table = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path} is not a MovieLens ratings file (tab-separated "
                         f"'user item rating timestamp' lines): {exc}") from None
    if table.shape[1] != 4 or table.shape[0] == 0:
        raise ValueError(f"{path} must hold tab-separated 'user item rating timestamp' lines; "
                         f"got {table.shape[1]} columns and {table.shape[0]} lines")
    if table[:, :2].min() < 1:
        raise ValueError(f"{path}: MovieLens user and item ids start at 1; found "
                         f"{table[:, :2].min()}")
    return table


def _info_shape(directory: str):
    """(users, items) from the directory's u.info, when present."""
    path = os.path.join(directory, "u.info")
    if not os.path.isfile(path):
        return None
    counts = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                counts[parts[1]] = int(parts[0])
    if "users" in counts and "items" in counts:
        return counts["users"], counts["items"]
    return None


def _ratings(table: np.ndarray, shape) -> Ratings:
    return Ratings(rows=np.ascontiguousarray(table[:, 0] - 1),
                   cols=np.ascontiguousarray(table[:, 1] - 1),
                   values=table[:, 2].astype(np.float64),
                   timestamps=np.ascontiguousarray(table[:, 3]), shape=shape)


def load_movielens(path, split=None):
    """Read MovieLens-100K ratings from the official files (``u.data``, ``uN.base/uN.test``).

    Parameters
    ----------
    path : str or os.PathLike
        A ratings file (``u.data``, ``u1.base``, ...) or the ``ml-100k`` directory.
    split : str, optional
        With a directory: ``"u1"`` ... ``"u5"``, ``"ua"`` or ``"ub"`` reads that official
        train/test split (``uN.base`` and ``uN.test``); ``None`` reads all of ``u.data``.
        Must be None when ``path`` is a file.

    Returns
    -------
    Ratings, or (train, test) : tuple of Ratings for a split
        Indices are 0-based (file ids minus 1). The shape comes from ``u.info`` in the
        directory when present, else from the largest ids read (over both files of a split).

    Raises
    ------
    FileNotFoundError
        When the path or a file of the split does not exist.
    ValueError
        For an unknown split, or a file not in the MovieLens format.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        if split is not None:
            raise ValueError("`split` must be None when `path` is a file")
        table = _read_ratings_file(path)
        shape = _info_shape(os.path.dirname(path) or ".") or (
            int(table[:, 0].max()), int(table[:, 1].max()))
        return _ratings(table, shape)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"MovieLens path not found: {path}")
    if split is None:
        files = [os.path.join(path, "u.data")]
    else:
        if not isinstance(split, str) or not _SPLIT.match(split):
            raise ValueError(f"`split` must be one of 'u1'...'u5', 'ua', 'ub' or None; "
                             f"got {split!r}")
        files = [os.path.join(path, f"{split}.base"), os.path.join(path, f"{split}.test")]
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"MovieLens file not found: {f}")
    tables = [_read_ratings_file(f) for f in files]
    shape = _info_shape(path) or (max(int(t[:, 0].max()) for t in tables),
                                  max(int(t[:, 1].max()) for t in tables))
    for f, t in zip(files, tables):
        if t[:, 0].max() > shape[0] or t[:, 1].max() > shape[1]:
            raise ValueError(f"{f} has ids beyond the {shape} users x items of u.info")
    out = tuple(_ratings(t, shape) for t in tables)
    return out[0] if split is None else out

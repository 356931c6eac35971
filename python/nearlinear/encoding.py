"""Multiresolution hash encoding on a simplex or cube lattice, and a neural-field image fitter.

:class:`HashEncoding` is the encoding of instant-ngp (Müller et al. 2022) with the choice of
instant-ngp's cube grid (``lattice="cube"``: d-linear interpolation of the 2^n corners of a
cell) or the simplex lattice of Wen and Yang (2023) (``lattice="simplex"``: barycentric
interpolation of the n + 1 vertices of a simplex), which costs O(n) table reads per level
instead of O(2^n).

Geometry (both lattices). Level ``l`` has resolution ``N_l = floor(base_resolution *
per_level_scale**l)``; a point ``x`` in [0, 1]^n is scaled to ``u = N_l x``. The cube lattice
has its vertices at the integer points of ``u``. The simplex lattice skews ``u`` to
``s = u + F_n sum(u)`` with ``F_n = (sqrt(n+1) - 1) / n`` (the skew of simplex noise), and cuts
the integer grid of ``s`` into the Freudenthal-Kuhn simplices: sorting the fractional parts
of ``s`` gives the simplex and its barycentric weights. Mapped back to ``u`` the simplices are
congruent, equilateral in 2-D, and in every dimension their longest edge is at most
``(n + 1) / (2 sqrt(n))`` times their shortest. The skew has determinant ``sqrt(n + 1)``, so
**a simplex level has sqrt(n + 1) times as many vertices per unit volume as the cube level of
the same resolution** (2x in 3-D, 3x in 8-D) while a point reads only n + 1 of them.

A level whose vertices fit in the table is indexed densely, a finer one by instant-ngp's
spatial hash (XOR of the integer coordinates times large primes, modulo the table size).

Inputs outside [0, 1] are clamped to [0, 1] coordinate-wise (the encoding is constant outside
the unit cube, and the input gradient is zero in a clamped coordinate); NaN and inf are
refused. All arrays are float32: arrays of another float dtype (float16, float64, longdouble)
are converted, and integer, boolean and complex arrays are refused with a TypeError (a float
array is required, as everywhere in nearlinear). A finite value beyond float32's range
(|v| > 3.4e38), which the conversion would turn into inf, is refused with a ValueError in the
table (``params``) and ``grad_output``; in points it is clamped like any value outside [0, 1].
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ._native import core as _core
from ._progress import progress_bar
from ._validation import (check_choice, check_flag, check_int, check_real, physical_memory,
                          resolve_seed)
from ._warnings import ConvergenceWarning

__all__ = ["HashEncoding", "ImageFit", "fit_image"]

LATTICES = ("simplex", "cube")
_MAX_DIMS = {"simplex": 32, "cube": 12}
_FEATURES_PER_LEVEL = (1, 2, 4, 8)
# The core takes these as C++ ints; a level finer than 2^30 is refused by the core as well.
_MAX_INT = 2**31 - 1
_MAX_RESOLUTION = 2**30
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_bytes(needed: int, what: str, advice: str) -> None:
    """Refuse, before allocating, ``needed`` bytes that the machine does not have."""
    available = physical_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{what} needs {needed / 2**30:.1f} GiB but the machine has "
            f"{available / 2**30:.1f} GiB: {advice}"
        )


def _check_features_per_level(value) -> int:
    value = check_int(value, "features_per_level")
    if value not in _FEATURES_PER_LEVEL:
        raise ValueError(f"`features_per_level` must be 1, 2, 4 or 8; got {value}")
    return value


def _float_array(value, name: str, shape: tuple) -> np.ndarray:
    """``value`` as an array of a real float dtype and the given shape (None: any length),
    not yet converted: the caller can check what the conversion will allocate first."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(f"`{name}` could not be converted to an array: {exc}") from None
    if arr.dtype.kind != "f":
        raise TypeError(
            f"`{name}` must be a float array (float16, float32, float64 or longdouble); "
            f"got dtype {arr.dtype}"
        )
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape)
    ):
        wanted = ", ".join("N" if want is None else str(want) for want in shape)
        raise ValueError(f"`{name}` must have shape ({wanted}); got {arr.shape}")
    return arr


def _to_float32(arr: np.ndarray, name: str, *, clamp: bool = False,
                scan_float32: bool = True) -> np.ndarray:
    """``arr`` (from :func:`_float_array`) as a C-contiguous float32 array, all finite.

    NaN and inf are refused, and so are finite values beyond float32's range, which the
    conversion turns into inf, unless ``clamp``: points, clamped to [0, 1] by the encoding
    anyway, whose overflowed coordinates become 0 or 1 here. ``scan_float32=False``: an
    input that is float32 already is not scanned here (the core checks it as it reads it).
    """
    if not scan_float32 and arr.dtype == np.float32:
        return np.ascontiguousarray(arr)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if out.size and not np.isfinite(out).all():
        if not np.isfinite(arr).all():
            raise ValueError(f"`{name}` must not contain NaN or inf")
        if not clamp:
            raise ValueError(
                f"`{name}` must hold float32 values (|v| <= {_FLOAT32_MAX:.4g}); got a finite "
                f"value beyond that range, which would become inf"
            )
        np.clip(out, 0.0, 1.0, out=out)  # out is a converted copy: arr keeps its values
    return out


def _check_out(out, shape: tuple, **inputs) -> None:
    """An ``out`` buffer: a C-contiguous, writeable float32 ndarray of the given shape that
    overlaps none of ``inputs`` (name: array)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`out` must be a NumPy array; got {type(out).__name__}")
    if out.dtype != np.float32:
        raise TypeError(f"`out` must have dtype float32; got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"`out` must have shape {tuple(shape)}; got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("`out` must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("`out` must be writeable")
    for name, arr in inputs.items():
        if np.may_share_memory(out, arr):
            raise ValueError(f"`out` must not overlap `{name}`")


class HashEncoding:
    """Multiresolution hash encoding of points in [0, 1]^n_dims.

    Parameters
    ----------
    n_dims : int
        Input dimension: 1..32 for the simplex lattice, 1..12 for the cube.
    lattice : {"simplex", "cube"}
        Interpolation lattice (see the module docstring).
    n_levels : int
        Number of resolutions, 1..64.
    features_per_level : {1, 2, 4, 8}
        Features stored per vertex.
    log2_table_size : int
        log2 of the rows of each level's table, 1..30.
    base_resolution : int
        Resolution of the coarsest level, 1..2^30 (the finest level must also leave float32
        inputs exact: at most 2^24 vertices per axis).
    per_level_scale : float
        Growth factor of the resolution from one level to the next (>= 1).
    seed : int, numpy Generator or None
        Seed of the uniform [-1e-4, 1e-4) initialisation of the table.

    Attributes
    ----------
    params : ndarray of float32, shape (n_levels, table_size, features_per_level)
        The table itself: writing into it changes what :meth:`forward` computes (what is
        written in place is not checked; assigning ``params`` checks and converts as the
        module docstring says).
    resolutions : list of int
        ``N_l`` of every level.
    dense_levels : list of bool
        Which levels are indexed densely (the others are hashed).
    """

    def __init__(
        self,
        n_dims,
        *,
        lattice="simplex",
        n_levels=16,
        features_per_level=2,
        log2_table_size=19,
        base_resolution=16,
        per_level_scale=1.5,
        seed=0,
    ):
        lattice = check_choice(lattice, "lattice", LATTICES)
        self.n_dims = check_int(n_dims, "n_dims", minimum=1, maximum=_MAX_DIMS[lattice])
        self.lattice = lattice
        self.n_levels = check_int(n_levels, "n_levels", minimum=1, maximum=64)
        self.features_per_level = _check_features_per_level(features_per_level)
        self.log2_table_size = check_int(log2_table_size, "log2_table_size", minimum=1,
                                         maximum=30)
        self.base_resolution = check_int(base_resolution, "base_resolution", minimum=1,
                                         maximum=_MAX_RESOLUTION)
        self.per_level_scale = check_real(per_level_scale, "per_level_scale", minimum=1.0)
        self.seed = resolve_seed(seed)
        self.table_size = 1 << self.log2_table_size
        _check_bytes(
            self.n_levels * self.table_size * self.features_per_level * 4,
            f"the hash table ({self.n_levels} levels x {self.table_size} rows x "
            f"{self.features_per_level} features x 4 bytes)",
            "lower `log2_table_size` or `n_levels`",
        )
        self._grid = _core.HashGrid(
            self.n_dims, self.lattice, self.n_levels, self.features_per_level,
            self.log2_table_size, self.base_resolution, self.per_level_scale,
        )
        self._params = np.empty(
            (self.n_levels, self.table_size, self.features_per_level), dtype=np.float32
        )
        self._grid.init_params(self._table_view(), self.seed)

    def __repr__(self) -> str:
        return (
            f"HashEncoding(n_dims={self.n_dims}, lattice={self.lattice!r}, "
            f"n_levels={self.n_levels}, features_per_level={self.features_per_level}, "
            f"log2_table_size={self.log2_table_size}, base_resolution={self.base_resolution}, "
            f"per_level_scale={self.per_level_scale})"
        )

    @property
    def params(self) -> np.ndarray:
        return self._params

    @params.setter
    def params(self, value) -> None:
        value = _float_array(value, "params", self._params.shape)
        self._params[...] = _to_float32(value, "params")

    @property
    def output_dims(self) -> int:
        """Columns of :meth:`forward`'s output: ``n_levels * features_per_level``."""
        return self.n_levels * self.features_per_level

    @property
    def resolutions(self) -> list[int]:
        return list(self._grid.resolutions)

    @property
    def dense_levels(self) -> list[bool]:
        return list(self._grid.dense_levels)

    def _table_view(self) -> np.ndarray:
        # A (n_levels * table_size, F) view of the table: no copy.
        return self._params.reshape(-1, self.features_per_level)

    def _points(self, x, output_columns: int) -> np.ndarray:
        """x as float32 points, once the memory of the result (and of x's conversion) is
        known to fit: ``output_columns`` float32 values per point."""
        x = _float_array(x, "x", (None, self.n_dims))
        _check_bytes(
            4 * x.shape[0] * (self.n_dims + output_columns),
            f"encoding {x.shape[0]} points ({self.n_dims + output_columns} float32 values each)",
            "pass `x` in smaller batches",
        )
        return _to_float32(x, "x", clamp=True)

    def forward(self, x, *, out=None) -> np.ndarray:
        """Encode points.

        Parameters
        ----------
        x : array of shape (N, n_dims), float
            Points; coordinates outside [0, 1] are clamped. Any real float dtype; converted
            to float32.
        out : ndarray of float32, shape (N, n_levels * features_per_level), optional
            C-contiguous, writeable buffer to write the features into (and return), for
            loops that encode batch after batch: a fresh output's pages cost the kernel's
            page faults on every call. It must not overlap ``x`` or :attr:`params`.

        Returns
        -------
        ndarray of float32, shape (N, n_levels * features_per_level)
            Column ``l * features_per_level + j`` is feature ``j`` of level ``l``.
        """
        x = self._points(x, 0 if out is not None else self.output_dims)
        if out is None:
            # Allocated by NumPy, which asks the kernel for huge pages for large arrays (the
            # core's own allocation faulted in 4 KiB pages: about 10 ms per 2^18 points).
            out = np.empty((x.shape[0], self.output_dims), np.float32)
        else:
            _check_out(out, (x.shape[0], self.output_dims), x=x, params=self._params)
        self._grid.forward_into(x, self._table_view(), out)
        return out

    def backward(self, x, grad_output, *, input_gradient=False, out=None):
        """Gradients of ``sum(forward(x) * grad_output)``.

        Parameters
        ----------
        x : array of shape (N, n_dims), float
        grad_output : array of shape (N, n_levels * features_per_level), float
        input_gradient : bool
            Also return the gradient with respect to ``x``.
        out : ndarray of float32, shape of :attr:`params`, optional
            C-contiguous, writeable buffer that receives the parameter gradient (overwritten,
            and returned), for training loops: a fresh 64 MiB table (the default size) costs
            page faults on every call, 20-30 % of a 2^18-point backward in 4-D and 6-D. It
            must not overlap ``x``, ``grad_output`` or :attr:`params`.

        Returns
        -------
        grad_params : ndarray of float32, shape of :attr:`params`
        grad_x : ndarray of float32, shape (N, n_dims)
            Only with ``input_gradient=True``: the gradient inside each point's cell (one-sided
            on cell faces), zero in coordinates outside [0, 1].
        """
        input_gradient = check_flag(input_gradient, "input_gradient")
        x = self._points(x, self.output_dims + (self.n_dims if input_gradient else 0))
        # A float32 grad_output is checked for NaN and inf by the core as it reads it (and a
        # parameter gradient whose sums overflow float32 is refused there too).
        grad_output = _to_float32(
            _float_array(grad_output, "grad_output", (x.shape[0], self.output_dims)),
            "grad_output", scan_float32=False,
        )
        if out is None:
            # Allocated by NumPy, which asks the kernel for huge pages for large arrays: the
            # first touch of the 64 MiB default table costs a few page faults, not thousands.
            grad_params = np.empty_like(self._params)
        else:
            _check_out(out, self._params.shape, x=x, grad_output=grad_output,
                       params=self._params)
            grad_params = out
        rows = grad_params.reshape(-1, self.features_per_level)  # a view, no copy
        self._grid.backward_params(x, grad_output, rows)
        if not input_gradient:
            return grad_params
        grad_x = self._grid.backward_input(x, self._table_view(), grad_output)
        if not np.isfinite(grad_x).all():
            raise ValueError(
                "the input gradient overflows float32 (`grad_output` times the table's slopes, "
                "up to the finest resolution, exceeds 3.4e38); scale `grad_output` or `params` "
                "down")
        return grad_params, grad_x


@dataclasses.dataclass(frozen=True)
class ImageFit:
    """Result of :func:`fit_image`.

    Attributes
    ----------
    psnr : float
        Peak signal-to-noise ratio (dB, peak 1) of the fitted field over the whole image.
    history : dict of ndarray
        ``loss`` (mean squared error of each step's batch, before the step), ``time``
        (training seconds elapsed after each step, evaluations excluded), and at every
        evaluation ``eval_step``, ``eval_time`` and ``eval_psnr``.
    lattice : str
    steps : int
        Steps taken (fewer than asked when ``callback`` stopped the training).
    train_time : float
        Seconds of training (evaluations excluded).
    image_shape : tuple
        Shape of the fitted image.
    """

    psnr: float
    history: dict
    lattice: str
    steps: int
    train_time: float
    image_shape: tuple
    _field: object = dataclasses.field(repr=False, compare=False)

    @property
    def _channels(self) -> int:
        return 1 if len(self.image_shape) == 2 else self.image_shape[2]

    def predict(self, coords) -> np.ndarray:
        """The field at ``coords`` (N, 2) in [0, 1]^2 (row, column): (N, C) float32.

        ``coords`` may have any real float dtype (converted to float32, as in
        :class:`HashEncoding`); coordinates outside [0, 1] are clamped.
        """
        coords = _float_array(coords, "coords", (None, 2))
        _check_bytes(4 * coords.shape[0] * (2 + self._channels),
                     f"the field at {coords.shape[0]} points", "pass `coords` in smaller batches")
        return self._field.predict(_to_float32(coords, "coords", clamp=True))

    def render(self, shape=None) -> np.ndarray:
        """The field sampled at the pixel centres of an image of ``shape`` = (H, W).

        Returns (H, W) for a grey image, (H, W, C) otherwise; float32, not clipped.
        """
        if shape is None:
            shape = self.image_shape[:2]
        try:
            height, width = shape
        except (TypeError, ValueError):
            raise TypeError(f"`shape` must be a pair (H, W) or None; got {shape!r}") from None
        height = check_int(height, "shape[0]", minimum=1)
        width = check_int(width, "shape[1]", minimum=1)
        # The pixel centres (two meshgrid planes and their stack) and the rendered image.
        _check_bytes(4 * height * width * (4 + self._channels),
                     f"rendering {height} x {width} pixels", "lower `shape`")
        rows = (np.arange(height, dtype=np.float32) + 0.5) / height
        cols = (np.arange(width, dtype=np.float32) + 0.5) / width
        grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
        out = self.predict(grid)
        if len(self.image_shape) == 2:
            return out.reshape(height, width)
        return out.reshape(height, width, -1)


def _check_image(image) -> np.ndarray:
    """``image`` as an array, checked: shape, dtype and values; not yet converted."""
    if not isinstance(image, np.ndarray):
        image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must have shape (H, W) or (H, W, C); got {image.shape}")
    if image.size == 0:
        raise ValueError(f"`image` must not be empty; got shape {image.shape}")
    if max(image.shape[:2]) > _MAX_INT:
        raise ValueError(f"`image` must have at most {_MAX_INT} rows and columns; "
                         f"got shape {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels > 16:
        raise ValueError(f"`image` must have 1..16 channels; got {channels}")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ValueError("`image` must not contain NaN or inf")
        if image.min() < 0 or image.max() > 1:
            raise ValueError("a float `image` must have values in [0, 1]")
    elif image.dtype != np.uint8:
        raise TypeError(f"`image` must be uint8 or float in [0, 1]; got dtype {image.dtype}")
    return image


def _image_pixels(image: np.ndarray) -> np.ndarray:
    """The pixels of a checked image as a (H * W, C) float32 array in [0, 1]."""
    pixels = image.astype(np.float32)
    if image.dtype == np.uint8:
        pixels /= 255.0
    return np.ascontiguousarray(pixels.reshape(image.shape[0] * image.shape[1], -1))


def _default_per_level_scale(lattice, side, base_resolution, n_levels) -> float:
    """fit_image's default per_level_scale: about one vertex per pixel at the finest level of
    an image whose larger side is ``side`` (see fit_image's ``per_level_scale``)."""
    finest = side / (3.0 ** 0.25 if lattice == "simplex" else 1.0)
    return max(1.0, (finest / base_resolution) ** (1.0 / max(n_levels - 1, 1)))


def _fit_bytes(pixels, n_levels, table_size, features, channels, batch_size, hidden_width,
               hidden_layers, steps) -> dict:
    """Bytes fit_image allocates, about, by part (float32 values unless said otherwise)."""
    encoded = n_levels * features
    sizes = [encoded] + [hidden_width] * hidden_layers + [channels]
    weights = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))  # weights and biases
    # The network's backward pass keeps a partial gradient per chunk of (at most 1024) rows of
    # the batch, summed in a fixed order afterwards (Mlp::backward).
    chunk = max(1, min(1024, (batch_size + 1) // 2))
    chunks = -(-batch_size // chunk)
    return {
        # The image as float32 pixels.
        "pixels": 4 * pixels,
        # The table, its gradient and two Adam moments, and a flag byte per row.
        "table": n_levels * table_size * (16 * features + 1),
        # Weights, gradient, two Adam moments, and the partial gradients.
        "network": 4 * weights * (4 + chunks),
        # Points, targets, outputs and residuals, encoded features (three copies), hidden
        # activations, and two 8-byte sort keys per sample.
        "batch": batch_size * (4 * (2 + 3 * channels + 3 * encoded + hidden_width * hidden_layers)
                               + 16),
        # The loss (float32) and time (float64) of each step, and their float64 history.
        "history": 28 * steps,
    }


def fit_image(
    image,
    *,
    lattice="simplex",
    steps=1000,
    batch_size=2**14,
    seed=0,
    n_levels=16,
    features_per_level=2,
    log2_table_size=19,
    base_resolution=16,
    per_level_scale=None,
    hidden_width=64,
    hidden_layers=2,
    learning_rate=1e-2,
    eval_every=0,
    callback=None,
    show_progress=False,
) -> ImageFit:
    """Fit a neural field (hash encoding + ReLU MLP) to an image, entirely in C++.

    Each step draws ``batch_size`` random pixels (with replacement), maps pixel (r, c) to
    ((r + 0.5) / H, (c + 0.5) / W), and takes an Adam step (betas 0.9, 0.99) on the mean
    squared error, with a learning rate decaying exponentially from ``learning_rate`` to a
    tenth of it at the last step; the table is updated only in the rows the batch touched. The GIL is
    released for the whole run. Deterministic for a given seed and thread count.

    Parameters
    ----------
    image : array of shape (H, W) or (H, W, C)
        uint8, or float (any real float dtype) with values in [0, 1]; H, W < 2^31, C <= 16.
    lattice : {"simplex", "cube"}
    steps, batch_size : int
        1..2^31 - 1 and 1..2^24. What the run allocates (table and Adam moments, network
        gradients, batch, history) is estimated first: more than the machine's memory is
        refused with a ValueError.
    seed : int, numpy Generator or None
        Seeds the table, the network and the batches.
    n_levels, features_per_level, log2_table_size, base_resolution : int
        The encoding (see :class:`HashEncoding`).
    per_level_scale : float or None
        None: the finest level has about one vertex per pixel,
        ``(finest / base_resolution) ** (1 / (n_levels - 1))`` (at least 1) with ``finest`` the
        image's larger side for the cube and that side divided by ``3 ** (1 / 4)`` for the
        simplex (whose levels have ``sqrt(3)`` times the vertices per unit area of a cube level
        at the same resolution, see :class:`HashEncoding`). Measured on scikit-image's
        astronaut and retina (300 steps), the simplex at the cube's resolution reached about
        the same PSNR (+1.7 and -0.6 dB) but each step took longer, as its finer levels read
        three times as many table rows spread over the cache.
    hidden_width, hidden_layers : int
        The network: ``hidden_layers`` ReLU layers of ``hidden_width`` units, linear output.
    learning_rate : float
        Positive, at most float32's largest value. A rate so large that the loss becomes NaN or
        inf gives a ``ConvergenceWarning`` (and a NaN ``psnr``).
    eval_every : int
        Also compute the whole-image PSNR every this many steps (0: only at the end; at most
        2^31 - 1); it is recorded in ``history`` and excluded from the training time.
    callback : callable or None
        ``callback(step, loss)`` after every step (``step`` from 1, ``loss`` the batch's mean
        squared error); a true return value stops the training after that step (``steps`` and
        ``history`` then count the steps done). Its time is excluded from the training time.
    show_progress : bool, default False
        Show a progress bar (tqdm) with the batch loss.

    Returns
    -------
    ImageFit
    """
    image = _check_image(image)
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    lattice = check_choice(lattice, "lattice", LATTICES)
    steps = check_int(steps, "steps", minimum=1, maximum=_MAX_INT)
    batch_size = check_int(batch_size, "batch_size", minimum=1, maximum=2**24)
    n_levels = check_int(n_levels, "n_levels", minimum=1, maximum=64)
    features_per_level = _check_features_per_level(features_per_level)
    log2_table_size = check_int(log2_table_size, "log2_table_size", minimum=1, maximum=30)
    base_resolution = check_int(base_resolution, "base_resolution", minimum=1,
                                maximum=_MAX_RESOLUTION)
    if per_level_scale is None:
        per_level_scale = _default_per_level_scale(lattice, max(height, width), base_resolution,
                                                   n_levels)
    per_level_scale = check_real(per_level_scale, "per_level_scale", minimum=1.0)
    hidden_width = check_int(hidden_width, "hidden_width", minimum=1, maximum=4096)
    hidden_layers = check_int(hidden_layers, "hidden_layers", minimum=0, maximum=16)
    # The core's Adam takes float32 steps of about the learning rate.
    learning_rate = check_real(learning_rate, "learning_rate", minimum=0.0, strict_minimum=True,
                               maximum=_FLOAT32_MAX)
    eval_every = check_int(eval_every, "eval_every", minimum=0, maximum=_MAX_INT)
    seed = resolve_seed(seed)
    if callback is not None and not callable(callback):
        raise TypeError("`callback` must be callable or None")
    show_progress = check_flag(show_progress, "show_progress")
    parts = _fit_bytes(image.size, n_levels, 1 << log2_table_size, features_per_level, channels,
                       batch_size, hidden_width, hidden_layers, steps)
    _check_bytes(
        sum(parts.values()),
        "fit_image (" + ", ".join(f"{k} {v / 2**30:.1f} GiB" for k, v in parts.items()) + ")",
        "lower `batch_size`, `hidden_width`, `hidden_layers`, `log2_table_size`, `n_levels` "
        "or `steps`",
    )
    grid = _core.HashGrid(2, lattice, n_levels, features_per_level, log2_table_size,
                          base_resolution, per_level_scale)
    pixels = _image_pixels(image)
    field = _core.NeuralField(grid, pixels.shape[1], hidden_width, hidden_layers, seed)
    with progress_bar(total=steps, desc=f"fit_image ({lattice})",
                      disable=not show_progress) as bar:
        def on_step(step, loss):
            bar.update(1)
            if show_progress and (step % 10 == 0 or step == steps):
                bar.set_postfix_str(f"loss {loss:.3g}")
            return bool(callback is not None and callback(step, loss))

        hook = on_step if callback is not None or show_progress else None
        log = field.fit_image(pixels, height, width, steps, batch_size, learning_rate,
                              eval_every, seed, hook)
    history = {
        "loss": np.asarray(log.loss, dtype=np.float64),
        "time": np.asarray(log.time, dtype=np.float64),
        "eval_step": np.asarray(log.eval_step, dtype=np.int64),
        "eval_time": np.asarray(log.eval_time, dtype=np.float64),
        "eval_psnr": np.asarray(log.eval_psnr, dtype=np.float64),
    }
    diverged = np.flatnonzero(~np.isfinite(history["loss"]))
    if diverged.size:
        warnings.warn(
            f"fit_image diverged: the loss is not finite from step {diverged[0] + 1} on "
            f"(learning_rate {learning_rate:g}); lower `learning_rate`",
            ConvergenceWarning, stacklevel=2,
        )
    return ImageFit(
        psnr=float(history["eval_psnr"][-1]),
        history=history,
        lattice=lattice,
        steps=len(log.loss),
        train_time=float(history["time"][-1]),
        image_shape=image.shape,
        _field=field,
    )


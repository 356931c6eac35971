"""Tests of nearlinear.encoding.fit_image on synthetic images."""

import numpy as np
import pytest

import nearlinear
from nearlinear._warnings import ConvergenceWarning
from nearlinear.encoding import fit_image


def synthetic_image(height=48, width=40, channels=3):
    rows = np.linspace(0, 1, height)[:, None]
    cols = np.linspace(0, 1, width)[None, :]
    planes = [
        0.5 + 0.4 * np.sin(6 * rows + 4 * cols),
        0.5 + 0.4 * np.cos(9 * rows * cols),
        ((rows - 0.5) ** 2 + (cols - 0.4) ** 2 < 0.08).astype(float) * 0.8 + 0.1,
    ]
    return np.stack(planes[:channels], axis=-1)


SMALL = dict(steps=150, batch_size=1024, log2_table_size=12, n_levels=8, hidden_width=32)


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
def test_fit_reaches_a_good_psnr(lattice):
    image = synthetic_image()
    fit = fit_image(image, lattice=lattice, eval_every=50, **SMALL)
    assert fit.psnr > 28
    assert fit.history["loss"].shape == (150,) and fit.history["time"].shape == (150,)
    assert np.all(np.diff(fit.history["time"]) >= 0)
    assert list(fit.history["eval_step"]) == [50, 100, 150]
    assert fit.history["loss"][-10:].mean() < 0.1 * fit.history["loss"][:10].mean()
    rendered = fit.render()
    assert rendered.shape == image.shape and rendered.dtype == np.float32
    mse = np.mean((rendered.astype(np.float64) - image) ** 2)
    assert abs(10 * np.log10(1 / mse) - fit.psnr) < 1e-3
    centre = np.array([[(5 + 0.5) / 48, (7 + 0.5) / 40]])
    np.testing.assert_allclose(fit.predict(centre)[0], rendered[5, 7], atol=1e-6)
    assert fit.render((10, 12)).shape == (10, 12, 3)


def test_grey_uint8_image():
    image = (synthetic_image(channels=1)[..., 0] * 255).astype(np.uint8)
    fit = fit_image(image, **SMALL)
    assert fit.render().shape == image.shape
    assert fit.psnr > 25


def test_fit_is_deterministic_for_a_seed_and_thread_count():
    image = synthetic_image(20, 20)
    kwargs = dict(SMALL, steps=20)
    before = nearlinear.get_num_threads()
    try:
        nearlinear.set_num_threads(2)
        a = fit_image(image, seed=3, **kwargs)
        b = fit_image(image, seed=3, **kwargs)
    finally:
        nearlinear.set_num_threads(before)
    c = fit_image(image, seed=4, **kwargs)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    np.testing.assert_array_equal(a.render(), b.render())
    assert not np.array_equal(a.history["loss"], c.history["loss"])


@pytest.mark.parametrize(
    "image, error, match",
    [
        (np.zeros(10), ValueError, "image"),
        (np.zeros((2, 3, 4, 5)), ValueError, "image"),
        (np.zeros((0, 5)), ValueError, "image"),
        (np.zeros((5, 5), dtype=np.int64), TypeError, "image"),
        (np.full((5, 5), 2.0), ValueError, r"\[0, 1\]"),
        (np.full((5, 5), np.nan), ValueError, "NaN"),
    ],
)
def test_bad_images(image, error, match):
    with pytest.raises(error, match=match):
        fit_image(image, steps=1)


def test_bad_options():
    image = synthetic_image(8, 8)
    with pytest.raises(ValueError, match="steps"):
        fit_image(image, steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        fit_image(image, batch_size=0)
    with pytest.raises(ValueError, match="lattice"):
        fit_image(image, lattice="hex")
    with pytest.raises(ValueError, match="learning_rate"):
        fit_image(image, learning_rate=0.0)
    fit = fit_image(image, steps=1, **{k: v for k, v in SMALL.items() if k != "steps"})
    with pytest.raises(ValueError, match="coords"):
        fit.predict(np.zeros((3, 3), np.float32))


def test_callback_sees_every_step_and_can_stop_the_training():
    image = synthetic_image(20, 20)
    seen = []

    def callback(step, loss):
        seen.append((step, loss))
        return step == 7

    fit = fit_image(image, callback=callback, **dict(SMALL, steps=20))
    assert [step for step, _ in seen] == list(range(1, 8))
    assert fit.steps == 7 and fit.history["loss"].shape == (7,)
    np.testing.assert_allclose([loss for _, loss in seen], fit.history["loss"], rtol=1e-6)
    assert list(fit.history["eval_step"]) == [7]
    # Stopping early does not change the steps taken: the first 7 losses of a full run agree.
    full = fit_image(image, **dict(SMALL, steps=20))
    np.testing.assert_array_equal(full.history["loss"][:7], fit.history["loss"])
    assert abs(fit.psnr - 10 * np.log10(1 / np.mean((fit.render() - image) ** 2))) < 1e-3


def test_callback_errors_propagate_and_bad_callbacks_are_refused():
    image = synthetic_image(12, 12)

    def callback(step, loss):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        fit_image(image, callback=callback, **dict(SMALL, steps=5))
    with pytest.raises(TypeError, match="callback"):
        fit_image(image, callback=3, **dict(SMALL, steps=5))


def test_show_progress_writes_a_bar_and_leaves_the_result_unchanged(capsys):
    image = synthetic_image(12, 12)
    quiet = fit_image(image, **dict(SMALL, steps=12))
    shown = fit_image(image, show_progress=True, **dict(SMALL, steps=12))
    assert "fit_image" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet.history["loss"], shown.history["loss"])


class _NoCore:
    """Stands in for the compiled module where an argument must be refused before any work."""

    def __getattr__(self, name):
        raise AssertionError(f"the core was reached ({name}) before the arguments were refused")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # Beyond the core's C++ ints, pybind would refuse the call without naming the argument.
        (dict(steps=2**31), ValueError, "steps"),
        (dict(eval_every=2**31), ValueError, "eval_every"),
        (dict(base_resolution=2**31), ValueError, "base_resolution"),
        (dict(base_resolution=2**30 + 1), ValueError, "base_resolution"),
        (dict(features_per_level=2**40), ValueError, "features_per_level"),
        (dict(features_per_level=3), ValueError, "features_per_level"),
        (dict(seed=2**64), ValueError, "seed"),
        # The core's Adam steps are float32: a larger rate would make them inf.
        (dict(learning_rate=1e39), ValueError, "learning_rate"),
        (dict(per_level_scale="2"), TypeError, "per_level_scale"),
        (dict(per_level_scale=0.5), ValueError, "per_level_scale"),
        (dict(callback=3), TypeError, "callback"),
        # Terabytes of per-chunk network gradients: refused instead of exhausting the memory.
        (dict(batch_size=2**24, hidden_width=4096, hidden_layers=16), ValueError, "GiB"),
    ],
)
def test_options_out_of_range_are_refused_before_any_work(monkeypatch, kwargs, error, match):
    if "GiB" in match and nearlinear._validation.physical_memory() is None:
        pytest.skip("physical memory unknown")
    monkeypatch.setattr(nearlinear.encoding, "_core", _NoCore())
    with pytest.raises(error, match=match):
        fit_image(synthetic_image(8, 8), **kwargs)


def test_images_beyond_the_core_range_are_refused():
    # A broadcast view: no memory behind its 2^31 rows.
    image = np.broadcast_to(np.zeros((1, 1), np.uint8), (2**31, 1))
    with pytest.raises(ValueError, match="image"):
        fit_image(image, steps=1)


def test_predict_and_render_convert_floats_and_refuse_what_cannot_be_allocated():
    fit = fit_image(synthetic_image(8, 8), **dict(SMALL, steps=2))
    coords = np.random.default_rng(0).random((30, 2))
    for dtype in (np.float16, np.longdouble):
        np.testing.assert_array_equal(fit.predict(coords.astype(dtype)),
                                      fit.predict(coords.astype(dtype).astype(np.float32)))
    # Coordinates are clamped to [0, 1], also those beyond float32's range.
    np.testing.assert_array_equal(fit.predict(np.array([[1e300, -1e300]])),
                                  fit.predict(np.array([[1.0, 0.0]], np.float32)))
    with pytest.raises(TypeError, match="coords"):
        fit.predict(np.zeros((3, 2), np.int64))
    with pytest.raises(TypeError, match="shape"):
        fit.render(5)
    if nearlinear._validation.physical_memory() is not None:
        with pytest.raises(ValueError, match="shape"):
            fit.render((2**20, 2**20))


def test_a_diverging_fit_warns():
    with pytest.warns(ConvergenceWarning, match="learning_rate"):
        fit = fit_image(synthetic_image(8, 8), learning_rate=1e6, **dict(SMALL, steps=5))
    assert not np.isfinite(fit.history["loss"]).all() and np.isnan(fit.psnr)

"""PSNR against training time: simplex and cube hash encodings fitting scikit-image images.

Both lattices use the same table size, levels, network, batches and number of steps, each at
fit_image's default resolution (about one vertex per pixel at the finest level); the
whole-image PSNR is evaluated every ``--eval-every`` steps (evaluation time excluded). Prints a
table and writes a PNG plot.

    python bench/encoding_image_fit.py --steps 500 --eval-every 50 \
        --out bench/figures/encoding_image_fit.png

``--repeat R`` fits every (image, lattice) pair R times, the lattices' order alternating from
round to round, and adds each round's ratios and their medians (the PSNR is the same in every
round: the fits are deterministic; only the times vary on a shared machine).

Two measures of "the same PSNR in less time" are printed: the simplex's time to the cube's
final PSNR - 0.5 dB against the cube's whole run, and against the cube's own time to that
PSNR (the stricter one: both curves judged at the same threshold).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import nearlinear
from nearlinear._bench.encoding import _skimage_image
from nearlinear.encoding import fit_image

IMAGES = ("astronaut", "retina")
LATTICES = ("cube", "simplex")


def time_to_reach(fit, psnr):
    """Training seconds at the first evaluation reaching ``psnr`` (None if never)."""
    hits = np.nonzero(fit.history["eval_psnr"] >= psnr)[0]
    return float(fit.history["eval_time"][hits[0]]) if hits.size else None


def times_to_cube_psnr(cube, simplex):
    """Each lattice's training seconds to the cube's final PSNR - 0.5 dB (None if never)."""
    target = cube.psnr - 0.5
    return time_to_reach(simplex, target), time_to_reach(cube, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2**14)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="fit_image's learning_rate (default: fit_image's default)")
    parser.add_argument("--simplex-scale", type=float, default=None,
                        help="the simplex's per_level_scale (default: fit_image's default)")
    parser.add_argument("--side", type=int, default=512, help="images resized to side x side")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of fits, lattice order alternating (medians reported)")
    parser.add_argument("--out", default="bench/figures/encoding_image_fit.png")
    args = parser.parse_args(argv)
    if args.threads:
        nearlinear.set_num_threads(args.threads)

    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    options = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    scales = {"cube": {}, "simplex": {}}
    if args.simplex_scale is not None:
        scales["simplex"] = {"per_level_scale": args.simplex_scale}
    rounds = []  # per round: {(image, lattice): fit}
    for r in range(args.repeat):
        fits = {}
        for name in IMAGES:
            image = _skimage_image(name, args.side)
            for lattice in (LATTICES if r % 2 == 0 else LATTICES[::-1]):
                fits[name, lattice] = fit_image(image, lattice=lattice, steps=args.steps,
                                                batch_size=args.batch_size,
                                                eval_every=args.eval_every, **options,
                                                **scales[lattice])
        rounds.append(fits)
    fits = rounds[0]

    print(f"nearlinear {nearlinear.__version__}, {nearlinear.get_num_threads()} threads, "
          f"{args.steps} steps of {args.batch_size} pixels, images {args.side}x{args.side}")
    print(f"{'image':10s} {'lattice':8s} {'step':>6s} {'time (s)':>9s} {'PSNR (dB)':>10s}")
    for (name, lattice), fit in fits.items():
        h = fit.history
        for step, t, psnr in zip(h["eval_step"], h["eval_time"], h["eval_psnr"]):
            print(f"{name:10s} {lattice:8s} {step:6d} {t:9.2f} {psnr:10.2f}")
    print()
    print(f"{'':48s} {'time to cube PSNR - 0.5 dB':>28s}")
    print(f"{'image':10s} {'cube PSNR':>10s} {'cube time':>10s} {'simplex PSNR':>13s} "
          f"{'simplex time':>13s} {'simplex':>13s} {'cube':>13s}")
    for name in IMAGES:
        cube, simplex = fits[name, "cube"], fits[name, "simplex"]
        reach = times_to_cube_psnr(cube, simplex)
        reach_text = [f"{t:.2f} s" if t is not None else "not reached" for t in reach]
        print(f"{name:10s} {cube.psnr:10.2f} {cube.train_time:9.2f}s {simplex.psnr:13.2f} "
              f"{simplex.train_time:12.2f}s {reach_text[0]:>13s} {reach_text[1]:>13s}")
    if args.repeat > 1:
        print()
        print(f"{'':37s} {'simplex time to cube PSNR - 0.5 dB, /':>38s}")
        print(f"{'image':10s} {'round':>5s} {'simplex / cube time':>20s} "
              f"{'cube time':>18s} {'cube time to it':>18s}")
        for name in IMAGES:
            ratios, to_run, to_reach = [], [], []
            for r, round_fits in enumerate(rounds):
                cube, simplex = round_fits[name, "cube"], round_fits[name, "simplex"]
                reach, cube_reach = times_to_cube_psnr(cube, simplex)
                ratios.append(simplex.train_time / cube.train_time)
                to_run.append(np.nan if reach is None else reach / cube.train_time)
                to_reach.append(np.nan if reach is None else reach / cube_reach)
                print(f"{name:10s} {r:5d} {ratios[-1]:20.3f} {to_run[-1]:18.3f} "
                      f"{to_reach[-1]:18.3f}")
            print(f"{name:10s} {'med':>5s} {np.median(ratios):20.3f} {np.median(to_run):18.3f} "
                  f"{np.median(to_reach):18.3f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written", file=sys.stderr)
        return 0
    fig, axes = plt.subplots(1, len(IMAGES), figsize=(5 * len(IMAGES), 4), squeeze=False)
    for ax, name in zip(axes[0], IMAGES):
        for lattice in LATTICES:
            h = fits[name, lattice].history
            ax.plot(h["eval_time"], h["eval_psnr"], marker="o", label=lattice)
        ax.set_title(f"{name} ({args.side}x{args.side})")
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

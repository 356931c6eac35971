"""Table rows a training batch touches, simplex against cube: what the scatter and Adam cost.

For one batch of random pixel centres of a side x side image (as ``fit_image`` draws them),
at ``fit_image``'s default resolution for each lattice, counts per level the table rows the
batch touches (the nonzero rows of the parameter gradient of an all-ones output gradient),
the 8-row groups holding at least one of them (the sparse Adam update and the scatter's
cache lines work in such groups: 8 rows of 2 float32 features are 64 bytes), and the largest
row touched (the extent of the Adam update's scan).

    python bench/encoding_touched_rows.py --side 512 --batch-size 16384
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nearlinear.encoding import HashEncoding, _default_per_level_scale

LATTICES = ("cube", "simplex")


def touched(lattice, x, side):
    # HashEncoding's defaults for the levels (16, base resolution 16), as in fit_image.
    scale = _default_per_level_scale(lattice, side, base_resolution=16, n_levels=16)
    enc = HashEncoding(2, lattice=lattice, per_level_scale=scale)
    grad = enc.backward(x, np.ones((len(x), enc.output_dims), np.float32))
    rows = (grad != 0).any(axis=-1)  # (levels, table rows)
    groups = rows.reshape(rows.shape[0], -1, 8).any(axis=-1)
    ends = np.array([np.flatnonzero(r).max() + 1 if r.any() else 0 for r in rows])
    return rows.sum(axis=1), groups.sum(axis=1), ends


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2**14)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    pixel = rng.integers(0, args.side * args.side, args.batch_size)
    x = np.stack([(pixel // args.side + 0.5) / args.side,
                  (pixel % args.side + 0.5) / args.side], axis=1).astype(np.float32)
    totals = {}
    print(f"{'lattice':8s} {'level':>5s} {'rows':>8s} {'8-row groups':>13s} {'scan':>8s}")
    for lattice in LATTICES:
        rows, groups, ends = touched(lattice, x, args.side)
        for level, (r, g, e) in enumerate(zip(rows, groups, ends)):
            print(f"{lattice:8s} {level:5d} {r:8d} {g:13d} {e:8d}")
        totals[lattice] = (rows.sum(), groups.sum(), ends.sum())
    print()
    for lattice, (r, g, e) in totals.items():
        print(f"{lattice:8s} {'all':>5s} {r:8d} {g:13d} {e:8d}")
    (rc, gc, ec), (rs, gs, es) = totals["cube"], totals["simplex"]
    print(f"simplex / cube: rows {rs / rc:.3f}, groups {gs / gc:.3f}, scan {es / ec:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

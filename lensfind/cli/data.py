"""``lensfind simulate``: a labelled HDF5 set (and optionally FITS cutouts) from an experiment."""
from __future__ import annotations

import sys
from pathlib import Path

from lensfind.config import load_experiment
from lensfind.data.build import check_outputs, is_complete_set, cache_path, simulate_to
from lensfind.data.fits import export_fits
from lensfind.data.store import read_params, read_set
from lensfind.sim.params import outside_note


def simulate_command(args) -> int:
    """``lensfind simulate EXPERIMENT.toml [--small] [--set K=V] [--out X.h5] [--fits-dir DIR]``.

    Without ``--out`` the set goes to the cache that training reuses
    (``data/generated/sim-<hash>.h5``) and an existing complete file there is kept.
    """
    exp = load_experiment(args.experiment, small=getattr(args, "small", False),
                          overrides=getattr(args, "overrides", None) or ())
    out = Path(args.out) if getattr(args, "out", None) else cache_path(exp)
    fits_dir = Path(args.fits_dir) if getattr(args, "fits_dir", None) else None
    check_outputs(out, fits_dir)
    sim = exp.simulation
    if not getattr(args, "out", None) and out.exists() and is_complete_set(out):
        print(f"{out}: already simulated with these settings and seed; reusing it")
    else:
        print(f"simulating {sim.n_lenses} lenses + {sim.n_nonlenses} non-lenses, "
              f"{sim.size}x{sim.size} px at {sim.pixel_scale} arcsec/px, "
              f"seed {exp.experiment.seed}", file=sys.stderr)
        simulate_to(exp, out, progress=True)
        print(f"wrote {out}")
    note = outside_note(read_params(out))
    if note:
        print(f"note: {note}")
    if fits_dir is not None:
        dataset = read_set(out)
        index = export_fits(dataset, fits_dir, progress=True)
        print(f"wrote {len(dataset)} FITS cutouts under {fits_dir} and their index {index}")
    return 0

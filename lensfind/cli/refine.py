"""``lensfind refine``: HMC posteriors of the lens parameters of scored candidates
(:func:`~lensfind.refine.runner.refine_candidates`)."""
from __future__ import annotations

import argparse

from lensfind.refine.diagnostics import Limits
from lensfind.refine.nuts import NutsSettings
from lensfind.refine.runner import RefineOptions, refine_candidates


def refine_command(args: argparse.Namespace) -> int:
    options = RefineOptions(
        member=args.member, id_column=args.id_column, path_column=args.path_column,
        supersampling=args.supersampling, edges=args.edges, mass_matrix=args.mass_matrix,
        settings=NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws,
                              seed=args.seed),
        limits=Limits(rhat_max=args.rhat_max, ess_min=args.ess_min,
                      integration_chi2_max=args.integration_max), truth=args.truth)
    rows = refine_candidates(args.candidates, args.out, options)
    flagged = sum(1 for row in rows if row["flag"])
    print(f"refined {len(rows)} candidates into {args.out} ({flagged} flagged): "
          f"{args.out}/refined.csv, {args.out}/refined.md")
    return 0

"""``lensfind score``: a candidate list scored by trained runs
(:func:`~lensfind.score.runner.score_candidates`)."""
from __future__ import annotations

import argparse

from lensfind.score.runner import ScoreOptions, score_candidates


def score_command(args: argparse.Namespace) -> int:
    options = ScoreOptions(mc_samples=args.mc_samples, chunk_size=args.chunk_size,
                           workers=args.workers, readers=args.readers,
                           batch_size=args.batch_size, seed=args.seed,
                           top=args.top, tolerance=args.tolerance, progress=not args.no_progress,
                           id_column=args.id_column, path_column=args.path_column)
    result = score_candidates(args.candidates, args.models, args.out, image=args.image,
                              options=options)
    print(result.summary())
    return 0

"""``lensfind score | merge-scores``: a candidate list scored by trained runs
(:func:`~lensfind.score.runner.score_candidates`), and the merge of its shards
(:func:`~lensfind.score.runner.merge_scores`)."""
from __future__ import annotations

import argparse

from lensfind.score.runner import ScoreOptions, merge_scores, score_candidates


def score_command(args: argparse.Namespace) -> int:
    options = ScoreOptions(mc_samples=args.mc_samples, chunk_size=args.chunk_size,
                           workers=args.workers, readers=args.readers,
                           batch_size=args.batch_size, seed=args.seed,
                           top=args.top, tolerance=args.tolerance, progress=not args.no_progress,
                           id_column=args.id_column, path_column=args.path_column,
                           index_column=args.index_column, shard=args.shard,
                           recalibrate=args.recalibrate)
    result = score_candidates(args.candidates, args.models, args.out, image=args.images,
                              stack=args.stack, tile_list=args.tile_list, options=options)
    print(result.summary())
    return 0


def merge_scores_command(args: argparse.Namespace) -> int:
    print(merge_scores(args.out, top=args.top).summary())
    return 0

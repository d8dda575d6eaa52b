"""``lensfind evaluate``: a scores file measured against a truth file
(:func:`~lensfind.evaluate.report.evaluate_scores`)."""
from __future__ import annotations

import argparse

from lensfind.evaluate.labelled import parse_columns
from lensfind.evaluate.report import evaluate_scores, parse_bins


def evaluate_command(args: argparse.Namespace) -> int:
    result = evaluate_scores(args.scores, args.truth, args.out,
                             columns=parse_columns(args.columns), id_column=args.id_column,
                             score_column=args.p_lens, bins=parse_bins(args.bins))
    print(result.summary())
    return 0

"""``lensfind score``: argument parsing and the call of :func:`~lensfind.score.runner.score_candidates`."""
from __future__ import annotations

import argparse

EPILOG = """\
The list needs the columns id and path (cutout FITS or .npy files, relative to the CSV's
folder); ra, dec and grade are optional and every other column is copied to the output.
With --image, cutouts are cut from a survey FITS image (celestial WCS) at the rows' ra, dec
and no path column is needed. Bad rows (missing or broken files, NaN pixels, wrong sizes,
repeated ids, ...) are reported in the status and reason columns and never stop the run.
A killed run resumes when the same command is started again.

example:
  lensfind score data/examples/candidates.csv --model runs/cv-lensflow/20250101-120000 \\
      --out scores/examples.csv --mc-samples 10
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("candidates", metavar="CANDIDATES.csv", help="the candidate list (CSV)")
    p.add_argument("--model", dest="models", action="append", required=True, metavar="RUN_DIR",
                   help="a lensfind run directory (runs/<experiment>/<run>); all its folds "
                        "score together; repeat for several runs")
    p.add_argument("--out", required=True, metavar="SCORES.csv", help="the scores CSV to write")
    p.add_argument("--image", metavar="SURVEY.fits",
                   help="cut the cutouts from this FITS image (with a celestial WCS) at ra, dec")
    p.add_argument("--mc-samples", type=int, default=1, metavar="T",
                   help="Monte-Carlo dropout passes per model (default 1: deterministic)")
    p.add_argument("--chunk-size", type=int, default=256, metavar="N",
                   help="rows read, scored and written at a time (default 256)")
    p.add_argument("--workers", type=int, default=4, metavar="W",
                   help="threads or processes reading cutout files (default 4)")
    p.add_argument("--readers", choices=("auto", "threads", "processes"), default="auto",
                   help="read cutout files in threads or in processes (no shared GIL; for "
                        "fast GPUs); auto: processes on machines with 8 or more cores")
    p.add_argument("--batch-size", type=int, default=32, metavar="B",
                   help="images per forward pass (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the MC-dropout masks")
    p.add_argument("--tolerance", type=float, default=0.1, metavar="F",
                   help="cutouts whose sides differ from the models' by at most this fraction "
                        "are centre-cropped or padded (default 0.1)")
    p.add_argument("--top", type=int, default=16, metavar="N",
                   help="cutouts in the top-N PNG grid (default 16, 0 for none)")
    p.add_argument("--id-column", default="id", help="name of the id column (default id)")
    p.add_argument("--path-column", default="path",
                   help="name of the cutout-path column (default path)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def score_command(args: argparse.Namespace) -> int:
    from lensfind.score.runner import ScoreOptions, score_candidates
    options = ScoreOptions(mc_samples=args.mc_samples, chunk_size=args.chunk_size,
                           workers=args.workers, readers=args.readers, batch_size=args.batch_size, seed=args.seed,
                           top=args.top, tolerance=args.tolerance, progress=not args.no_progress,
                           id_column=args.id_column, path_column=args.path_column)
    result = score_candidates(args.candidates, args.models, args.out, image=args.image,
                              options=options)
    print(result.summary())
    return 0

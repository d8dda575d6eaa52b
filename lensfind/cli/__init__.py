"""``lensfind`` command line: every argument parser here, every handler in ``lensfind.cli.<group>``.

:data:`COMMANDS` is the registry: name -> (help, arguments, ``"module:function"``). A handler
module (:mod:`.data`, :mod:`.train`, :mod:`.tune`, :mod:`.score`, :mod:`.evaluate`,
:mod:`.refine`, :mod:`.demo`) turns parsed arguments into typed calls of one library
function; it is imported only when its command runs, so ``lensfind --help`` stays fast (no
TensorFlow import). Unless ``--verbose`` is given, TensorFlow's native start-up log lines are
filtered out (:mod:`.quiet`).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from lensfind.cli.quiet import quiet_native_logs
from lensfind.validation import ConfigError


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment TOML file (see experiments/)")
    p.add_argument("--small", action="store_true",
                   help="apply the file's [small] table: a CPU-sized version of the experiment")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.epochs=2 (repeatable)")


def _simulate_args(p: argparse.ArgumentParser) -> None:
    _experiment_args(p)
    p.add_argument("--out", help="HDF5 file to write (default: the cache data/generated/sim-<hash>.h5, reused if complete)")
    p.add_argument("--fits-dir", help="also export FITS cutouts and a CSV index to this folder")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-output", help="folder for the demo's files")


def _tune_args(p: argparse.ArgumentParser) -> None:
    _experiment_args(p)
    p.add_argument("--n-trials", type=int, default=None, metavar="N",
                   help="trials the study should hold (default [tune] n_trials); re-running "
                        "continues the same study up to N")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage URL, e.g. postgresql://user@host/db (needs "
                        "pip install 'lensfind[postgres]'; default "
                        "sqlite:///runs/<experiment>/tune/study.db)")
    p.add_argument("--study-name", default=None, metavar="S",
                   help="study name (default the experiment's name; with --small the name "
                        "of the [small] version, '-small' appended if the file gives none)")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="worker processes on this machine (default [tune] workers)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="root of run directories")
    p.add_argument("--objective", choices=("keras", "synthetic"), default="keras",
                   help="keras: train the network (default); synthetic: a closed-form stand-in "
                        "that runs in seconds, to try storage, workers and reports")


def _dashboard_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", nargs="?", default=None,
                   help="experiment TOML file whose study database to show")
    p.add_argument("--small", action="store_true",
                   help="the database of the experiment's --small version")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="any Optuna storage URL: sqlite:///path/study.db, or "
                        "postgresql://user@host/db (pip install 'lensfind[postgres]')")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: a free one)")
    p.add_argument("--public", action="store_true",
                   help="allow a --host other than the loopback address")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="root of run directories")


SCORE_EPILOG = """\
The list (CSV, or a FITS/ECSV table) needs an id column and, per cutout source:
  files (default)    path: cutout FITS or .npy files, relative to the list's folder;
  --stack FILE       index: each row's 0-based position in an HDF5 dataset N x H x W
                     (FILE.h5:NAME; default 'images', lensfind's own sets), a FITS cube or a
                     multi-extension FITS;
  --image / --tile-list  ra, dec: cut from the survey tile (FITS, celestial WCS) that holds
                     the position.
Models of several bands (e.g. g, r, i) take every band of a row: a cube per row in path (FITS
C x H x W with a BANDS card, or one image HDU per band), one column per band (path_g, path_r,
path_i), --image BAND=TILE.fits for each band (each cut with its own WCS), or an HDF5 stack
N x H x W x C of the models' bands.
grade is optional and every other column is copied to the output. --out's suffix chooses the
format: .csv, .fits, .ecsv or .parquet (pip install 'lensfind[parquet]'). Bad rows (missing
or broken files, NaN pixels, wrong sizes, repeated ids, indices past the end of the stack,
positions outside every tile, ...) are reported in the status and reason columns and never
stop the run. A killed run resumes when the same command is started again; a second run on
the same --out is refused while the first holds OUT.lock.

Many machines: --shard K/N scores part K of N (each part resumes on its own), then
`lensfind merge-scores --out SCORES` writes the ranking, grade table and top-N grid
(docs/cluster.md has a SLURM job array).

examples:
  lensfind score data/examples/candidates.csv --model runs/cv-lensflow/20250101-120000 \\
      --out scores/examples.csv --mc-samples 10
  lensfind score catalogue.fits --stack cutouts.h5:images --model RUN --out scores.parquet
  lensfind score radec.ecsv --tile-list tiles.txt --model RUN --out scores.fits --shard 2/8
  lensfind score radec.csv --image g=tile_g.fits --image r=tile_r.fits --image i=tile_i.fits \
      --model runs/hsc/RUN --out scores.csv
"""


def _score_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = SCORE_EPILOG
    p.add_argument("candidates", metavar="CANDIDATES",
                   help="the candidate list (.csv, or a .fits/.ecsv table)")
    p.add_argument("--model", dest="models", action="append", required=True, metavar="RUN_DIR",
                   help="a lensfind run directory (runs/<experiment>/<run>); all its folds "
                        "score together; repeat for several runs")
    p.add_argument("--out", required=True, metavar="SCORES",
                   help="the scores file to write: .csv, .fits, .ecsv or .parquet")
    p.add_argument("--stack", metavar="STACK",
                   help="read the cutouts from this HDF5 (FILE.h5[:DATASET]) or FITS stack at "
                        "the rows' index column")
    p.add_argument("--image", dest="images", action="append", default=[],
                   metavar="[BAND=]TILE.fits",
                   help="cut the cutouts from this FITS tile (celestial WCS) at ra, dec; "
                        "repeat for several tiles; BAND=TILE.fits for each band of a "
                        "multi-band model")
    p.add_argument("--tile-list", metavar="TILES.txt",
                   help="a text file of FITS tiles, one per line (with or instead of --image; "
                        "BAND=TILE.fits lines for a multi-band model)")
    p.add_argument("--index-column", default="index",
                   help="name of the stack-index column (default index)")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="score part K of N of the list (1 <= K <= N); merge with "
                        "`lensfind merge-scores`")
    p.add_argument("--mc-samples", type=int, default=1, metavar="T",
                   help="Monte-Carlo dropout passes per model (default 1: deterministic)")
    p.add_argument("--recalibrate", action="store_true",
                   help="scale each regression run's error bars by per-parameter factors "
                        "fitted on its folds' validation splits (1-sigma coverage 68.3 %% "
                        "there)")
    p.add_argument("--chunk-size", type=int, default=256, metavar="N",
                   help="rows read, scored and written at a time (default 256; all shards of "
                        "one list need the same)")
    p.add_argument("--workers", type=int, default=4, metavar="W",
                   help="threads or processes reading cutouts (default 4)")
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


EVALUATE_EPILOG = """\
The truth CSV has one row per candidate: id, label (1 lens, 0 non-lens), optionally kind
(non-lens kinds), morphology (lens configurations), grade, the lens parameters (theta_e, e1,
...) and any numeric column to bin the recall by. Every truth id must be in the scores and every
scored id in the truth; rows of the scores whose status is not ok are listed in not_scored.csv.

example:
  lensfind evaluate scores/checkset.csv --truth checkset/truth.csv --bin snr --bin theta_e \\
      --column label=is_lens --out scores/checkset.evaluate
"""


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EVALUATE_EPILOG
    p.add_argument("scores", metavar="SCORES",
                   help="a scores file of `lensfind score` (.csv, .fits, .ecsv or .parquet)")
    p.add_argument("--truth", required=True, metavar="TRUTH",
                   help="the truth, one row per candidate (.csv, .fits, .ecsv or .parquet)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the tables and plots (default <SCORES stem>.evaluate)")
    p.add_argument("--column", dest="columns", action="append", default=[],
                   metavar="NAME=TRUTH_COLUMN",
                   help="the truth column that holds id, label, kind, morphology, grade or a "
                        "parameter, e.g. label=is_lens or theta_e=theta_E (repeatable)")
    p.add_argument("--bin", dest="bins", action="append", default=[], metavar="COLUMN[=E0,E1,..]",
                   help="recall of the lenses in bins of this truth column (quintiles, or the "
                        "given edges), e.g. --bin snr --bin theta_e=0.5,1,1.5,2 (repeatable)")
    p.add_argument("--id-column", default="id", help="the scores' id column (default id)")
    p.add_argument("--p-lens", default="p_lens", metavar="COLUMN",
                   help="the scores' lens-probability column (default p_lens, the committee's; "
                        "e.g. p_lens_<run> for one run)")


def _refine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("candidates", metavar="SCORES.csv",
                   help="candidates scored by a regression run (`lensfind score --model RUN_DIR`"
                        "): its MEMBER_<param>, _sigma and _cov_ columns, an id and a FITS "
                        "cutout path per row (header: BUNIT, PIXSCALE, PSFFWHM, SKY, RDNOISE)")
    p.add_argument("--member", required=True,
                   help="the regression run's name in the scores' columns (MEMBER_theta_e, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (resumes there)")
    p.add_argument("--id-column", default="id", help="id column (default id)")
    p.add_argument("--path-column", default="path", help="cutout path column (default path)")
    p.add_argument("--supersampling", type=int, default=2,
                   help="sub-pixels per pixel side of the model (default 2)")
    p.add_argument("--edges", choices=("sky", "dark"), default="sky",
                   help="beyond the cutouts' edges: sky (real images and crops: the model is "
                        "rendered a PSF half-width further, light spills in) or dark (zero "
                        "padding, as lensfind's simulator draws uncropped cutouts); default sky")
    p.add_argument("--chains", type=int, default=2, help="NUTS chains (default 2)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up draws per chain (200)")
    p.add_argument("--draws", type=int, default=200, help="kept draws per chain (200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--mass-matrix", choices=("laplace", "network"), default="laplace",
                   help="covariance that sets NUTS's mass matrix: the inverse Hessian at the "
                        "MAP, or the network's for the lens parameters (default laplace)")
    p.add_argument("--rhat-max", type=float, default=1.05, help="flag above this R-hat (1.05)")
    p.add_argument("--ess-min", type=float, default=50.0, help="flag below this ESS (50)")
    p.add_argument("--integration-max", type=float, default=1.0,
                   help="flag when doubling the sub-pixels moves the MAP model by more than "
                        "this chi2 (1; inf for images drawn at the model's own supersampling)")
    p.add_argument("--truth", default=None, metavar="TRUTH.csv",
                   help="known parameters of simulated candidates (id column and any of "
                        "theta_e, e1, ..., source_x, ...; e.g. a simulated set's index.csv): "
                        "drawn in the corner plots and written beside the posterior")


def _merge_scores_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="SCORES",
                   help="the --out the shards were scored with; the merged scores are written "
                        "there (.csv, .fits, .ecsv or .parquet)")
    p.add_argument("--top", type=int, default=16, metavar="N",
                   help="cutouts in the top-N PNG grid (default 16, 0 for none)")


def _cv_args(p: argparse.ArgumentParser) -> None:
    _experiment_args(p)
    p.add_argument("--fold", type=int, action="append", default=[], metavar="K",
                   help="run only fold K (0-based; repeatable), e.g. one per cluster job; "
                        "`lensfind aggregate RUN_DIR` then builds the summary")
    p.add_argument("--run-dir", default=None, metavar="DIR",
                   help="run directory to create or resume (default: the latest run of the "
                        "experiment with the same settings under --runs-dir, else a new one)")
    p.add_argument("--new", action="store_true", help="always start a new run directory")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="root of run directories")


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory made by `lensfind cv`")


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                   help="run directories to compare (default: the latest complete run of each "
                        "experiment under --runs-dir)")
    p.add_argument("--experiment", dest="experiments", action="append", default=[],
                   metavar="NAME", help="with no RUN_DIR: only these experiments (repeatable)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for comparison.{csv,md,json} and overview.png "
                        "(default <runs-dir>/compare)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="root of run directories")



def _sweep_args(p: argparse.ArgumentParser) -> None:
    _experiment_args(p)
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="root of run directories")

# name -> (help, add_arguments, "module:function")
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "simulate": ("simulate a labelled HDF5 training set", _simulate_args,
                 "lensfind.cli.data:simulate_command"),
    "tune": ("tune dropout rates (and more) of an experiment with Optuna", _tune_args,
             "lensfind.cli.tune:tune_command"),
    "dashboard": ("serve optuna-dashboard on a tuning study (127.0.0.1)", _dashboard_args,
                  "lensfind.cli.tune:dashboard_command"),
    "score": ("score a candidate list (cutout files, a stack or survey tiles) with trained "
              "runs", _score_args, "lensfind.cli.score:score_command"),
    "merge-scores": ("merge the --shard parts of a scoring run: ranking, grade table, top-N",
                     _merge_scores_args, "lensfind.cli.score:merge_scores_command"),
    "evaluate": ("measure a scores file against a truth file (finding and parameters)",
                 _evaluate_args, "lensfind.cli.evaluate:evaluate_command"),
    "refine": ("HMC posteriors of scored candidates' lens parameters under the physical "
               "model", _refine_args, "lensfind.cli.refine:refine_command"),
    "cv": ("k-fold cross-validate an experiment (resumable; --fold K for job arrays)", _cv_args,
           "lensfind.cli.train:cv_command"),
    "aggregate": ("summarise the finished folds of a cross-validation run", _aggregate_args,
                  "lensfind.cli.train:aggregate_command"),
    "compare": ("one table and overview plot of several cross-validation runs", _compare_args,
                "lensfind.cli.train:compare_command"),
    "sweep": ("cross-validate one run per value of an experiment's [sweep] table", _sweep_args,
              "lensfind.cli.train:sweep_command"),
    "demo": ("run the embedded demo end to end", _demo_args, "lensfind.cli.demo:demo_command"),
}


def _common_args(p: argparse.ArgumentParser, default=None) -> None:
    p.add_argument("--verbose", action="store_true", default=default,
                   help="also show TensorFlow's native start-up and optimiser log lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lensfind", description="Find strong gravitational lenses in telescope cutouts and "
        "measure them: simulate, cross-validate, tune, score.")
    _common_args(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        _common_args(command, default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        quiet_native_logs()
    module_name, func_name = COMMANDS[args.command][2].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"lensfind {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

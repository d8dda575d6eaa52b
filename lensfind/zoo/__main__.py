"""``python -m lensfind.zoo [--size N] [--no-measure]``: print the backbone table (Markdown)."""
from __future__ import annotations

import argparse

from lensfind.zoo.describe import describe_zoo


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lensfind.zoo", description=__doc__)
    parser.add_argument("--size", type=int, default=None,
                        help="input side for parameter counts (default: each backbone's own)")
    parser.add_argument("--no-measure", action="store_true", help="do not build the networks")
    args = parser.parse_args(argv)
    print(describe_zoo(size=args.size, measure=not args.no_measure))


if __name__ == "__main__":
    main()

"""``python -m lensfind.cli``: the ``lensfind`` command."""
import sys

from lensfind.cli import main

sys.exit(main())

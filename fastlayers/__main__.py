"""``python -m fastlayers``: the same as the ``fastlayers`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the benchmark report: ``python -m bench.report [--quick | --smoke]``.

The work is split by concern: :mod:`bench.run` measures (suites, targets,
compile time, memory) and writes ``results.json``; :mod:`bench.render`
turns the figures into tables and plots; :mod:`bench.readme` rewrites the
README's benchmark section; :mod:`bench.machine` says what machine it was.
"""

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())

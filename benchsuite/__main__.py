"""``python -m benchsuite``: the same as the ``benchsuite`` command."""

import sys

from benchsuite.cli import main

sys.exit(main())

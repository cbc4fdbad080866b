"""``python -m companion``: see :mod:`companion.cli`."""

import sys

from companion.cli import main

sys.exit(main())

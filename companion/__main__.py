"""``python -m companion``: see :mod:`companion.cli`."""

import sys

try:
    from companion.cli import main  # imports torch: seconds, during which Ctrl-C is one line too
except KeyboardInterrupt:
    print("\ninterrupted before any work started; nothing to resume.", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

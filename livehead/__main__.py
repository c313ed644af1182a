"""``python -m livehead``: the ``livehead`` command where no script is on PATH (Windows, macOS, any venv)."""

import sys

from livehead.cli import main

if __name__ == "__main__":
    sys.exit(main())

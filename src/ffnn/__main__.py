"""``python -m ffnn`` is the ``ffnn`` command."""

import sys

from .cli import main

sys.exit(main())

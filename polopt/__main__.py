"""``python -m polopt``: the ``polopt`` command (:mod:`polopt.cli`)."""

import sys

from .cli import main

sys.exit(main())

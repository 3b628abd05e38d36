"""``python -m fpalib`` runs the ``fpa`` command line (see :mod:`fpalib.cli`)."""

from fpalib.cli import main

raise SystemExit(main())

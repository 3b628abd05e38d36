"""``python -m fpalib`` runs the ``fpa`` command line (see :mod:`fpalib.cli`)."""

try:
    from fpalib.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing
    import sys

    print("interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())

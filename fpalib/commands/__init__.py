"""Sub-commands of ``fpa``; each module is registered in :data:`fpalib.cli.COMMANDS`.

A command module defines ``HELP: str`` (one line),
``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int`` (the exit status).
"""

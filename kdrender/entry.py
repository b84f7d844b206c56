"""The ``kdrender`` console script: ``generate`` and ``--version`` skip click, everything else goes through it."""

import sys


def main() -> None:
    if sys.argv[1:] == ["generate"]:
        from .generate import main as generate

        sys.exit(generate())
    if sys.argv[1:] == ["--version"]:  # as click prints it; the sidecar image has no click
        from . import __version__

        print(f"kdrender, version {__version__}")
        return
    from .cli import main as cli

    cli()

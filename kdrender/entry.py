"""The ``kdrender`` console script: ``generate`` skips click, everything else goes through it."""

import sys


def main() -> None:
    if sys.argv[1:] == ["generate"]:
        from .generate import main as generate

        sys.exit(generate())
    from .cli import main as cli

    cli()

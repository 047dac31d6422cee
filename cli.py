"""The ``bus`` command line (installed as ``bus``; ``python cli.py ...`` works from a checkout)."""

from bus.cli import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()

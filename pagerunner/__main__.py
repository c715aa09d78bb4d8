"""`python -m pagerunner` runs the CLI."""

from .cli import main

main()

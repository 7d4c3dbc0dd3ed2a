"""``python -m mlcycle.cli``."""

from mlcycle.cli import main

main()

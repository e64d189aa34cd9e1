"""`python -m webinfer ...` is the `webinfer` command."""
import sys

from .cli import main

sys.exit(main())

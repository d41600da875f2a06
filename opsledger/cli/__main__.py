"""``python -m opsledger.cli``: the ``opsledger`` command."""

from opsledger.cli.main import main

main()

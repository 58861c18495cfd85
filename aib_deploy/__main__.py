"""`python -m aib_deploy`: the `aib` command, where no `aib` script is on the PATH (a `pip install --target`)."""

from .cli import main

raise SystemExit(main())

"""`python -m aib_deploy`: the `aib` command, where no `aib` script is on the PATH (a `pip install --target`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

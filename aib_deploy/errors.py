"""One root exception for mistakes a user can fix.

The CLI turns an `AibError` into a single line on stderr and exit code 1; any
other exception is a bug in aib-deploy and keeps its traceback.
"""


class AibError(Exception):
    """A user-facing error: bad input file, bad option, failed check."""

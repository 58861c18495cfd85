"""One root exception for mistakes a user can fix.

The CLI turns an `AibError` into a single line on stderr and exit code 1, and an `OptionError` into the
same line and exit code 2, as argparse's own usage errors; any other exception is a bug in aib-deploy and
keeps its traceback.
"""


class AibError(Exception):
    """A user-facing error: bad input file, bad option, failed check."""


class OptionError(AibError):
    """A value given to an option is wrong whatever the files and the machine (out of range, unknown, empty):
    found by the options' own checks, which Python callers of the library get too."""

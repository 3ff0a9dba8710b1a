"""The one exception type for mistakes a user can fix (bad file, bad option, missing prerequisite).

The command line prints it as one line, `neuron <command>: error: <message>`, and exits 2 without a
traceback (`--debug` or NEURON_DEBUG=1 shows it). Anything else is a program error and keeps its
traceback. Subclasses of ValueError so library callers that caught ValueError still do.
"""


class UserError(ValueError):
    """A problem in the user's input: the message names the file/field/value and how to fix it."""


class MissingInputError(UserError, FileNotFoundError):
    """A file, folder or earlier stage's output the user must provide or make first."""


class ExistingOutputError(UserError, FileExistsError):
    """An output that is already there and would be overwritten or mixed with another."""


class DamagedFileError(UserError):
    """A file the project wrote (or should have) that cannot be read back: truncated, corrupt, foreign."""

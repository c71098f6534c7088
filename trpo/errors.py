"""The one exception a user's bad input raises; scripts print it as a one-line error."""


class UserError(Exception):
    """Bad input from the user: a flag, an environment id, a file. The message says what to do."""

"""What the scripts turn into one line on stderr and a non-zero exit: bad input, or a stop by signal."""


class UserError(Exception):
    """Bad input from the user: a flag, an environment id, a file. The message says what to do."""


class Interrupted(Exception):
    """The run was stopped by SIGINT or SIGTERM after saving its state; the message says how to resume."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM

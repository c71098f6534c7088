"""What train.py and test.py share as command-line programs: one-line errors, never a traceback."""
import argparse
import sys

from trpo.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag prints one line (not the whole usage block) and exits with 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_main(prog, fn):
    """Call fn(); a UserError becomes 'prog: error: message' on stderr and exit status 1."""
    try:
        return fn()
    except UserError as e:
        sys.exit(f"{prog}: error: {e}")

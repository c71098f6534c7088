"""What train.py and test.py share as command-line programs: one-line errors, never a traceback."""
import argparse
import signal
import sys

from trpo.errors import Interrupted, UserError


def int_in(low, high, expected):
    """An argparse type: an integer in [low, high) (high None: no bound), else 'must be <expected>'."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {expected}, got '{text}'")
        return value
    return parse


seed_arg = int_in(0, 2 ** 32, 'an integer in [0, 2**32)')  # a seed of torch and of Gymnasium's reset


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
    except Interrupted as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a training loop
        sys.exit(f"{prog}: stopped at once; any checkpoint holds the last finished iteration")


class StopRequest:
    """Within this context SIGINT and SIGTERM only set .signum, so the caller can finish
    its iteration, save and stop; a second SIGINT or SIGTERM stops at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.signum = None
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

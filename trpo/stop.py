"""A clean stop on Ctrl-C or SIGTERM: finish the iteration under way, save, then stop."""
import signal


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

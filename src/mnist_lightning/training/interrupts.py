"""A stop signal (Ctrl-C, SIGTERM) noted when it arrives and acted on where the caller says; a second one at once."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class StoppedAtOnce(KeyboardInterrupt):
    """A second stop signal, raised wherever the program was: what it had half done may not add up."""


class DeferredStop:
    """Takes over one stop signal: the first arrival sets `received`, and `stop_if_received()` raises
    `stop` at a point the caller chose; a second arrival raises `StoppedAtOnce` where it lands.

    Only on the main thread (where Python runs signal handlers), and never for a signal the process
    ignores (a job started in the background ignores Ctrl-C).
    """

    def __init__(self, signum: signal.Signals, stop: type[BaseException], doing: str) -> None:
        self.signum, self.stop = signum, stop
        self.doing = doing  # what the first signal lets finish, for the line it prints
        self.received = False
        self._previous: signal.Handlers | None = None

    def install(self) -> None:
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(self.signum) == signal.SIG_IGN
        ):
            return
        self.received = False
        self._previous = signal.signal(self.signum, self._note)

    def uninstall(self) -> None:
        """Give the signal back, unless someone took it since (Lightning ignores Ctrl-C while it shuts down)."""
        if self._previous is not None and signal.getsignal(self.signum) == self._note:
            signal.signal(self.signum, self._previous)
        self._previous = None

    def stop_if_received(self) -> None:
        if self.received:
            raise self.stop

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            raise StoppedAtOnce
        self.received = True
        log.warning(
            "%s: stopping after %s (send it again to stop at once, without a checkpoint)",
            "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name,
            self.doing,
        )

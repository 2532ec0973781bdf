"""SIGTERM, the window's Cancel for a command it runs, unwinds the work, and only the work."""
import os
import signal

import pytest

from designer.core.progress import terminate_interrupts


def test_sigterm_unwinds_the_work_but_not_the_report_of_finished_work():
    told, before = [], signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with terminate_interrupts(lambda: told.append("stop")):
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt the work")
    assert told == ["stop"]
    with terminate_interrupts(lambda: told.append("late")) as finished:
        finished()
        os.kill(os.getpid(), signal.SIGTERM)  # too late: the work is complete
        reported = True
    assert reported and told == ["stop"]
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back

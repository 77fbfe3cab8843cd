# Run before the rollback script when command-timeout is set (src/executors/timeout.ts, layer 1): SIGALRM at the
# limit, counted from the process start (Django's own start-up included), raises CommandTimeout, which
# the script reports like any failure: the migration in progress is rolled back with its transaction, the
# ones before it stay unapplied, and the report line says which. Should something swallow the exception, it
# comes again every second until the report line is written; the target's `timeout` is the backstop.
#
# selfStopPrelude (src/django/scripts.ts) replaces the _CT_LIMIT and _CT_MESSAGE lines and puts this text in
# front of the rollback script, in the same exec(): names start with _ct_ to stay out of the script's way.
# Python 3.8+, stdlib only.
import os as _ct_os
import signal as _ct_signal
import sys as _ct_sys

# Seconds from the process start; the exception's message, a str literal in ASCII so that any stdin encoding reads it.
_CT_LIMIT = 60
_CT_MESSAGE = "stopped (command-timeout)"


class CommandTimeout(Exception):
    pass


def _ct_elapsed():
    """Seconds since this process started, from /proc; 0 where /proc cannot tell."""
    try:
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        return max(0.0, up - start / _ct_os.sysconf("SC_CLK_TCK"))
    except Exception:
        return 0.0


def _ct_alarm(signum, frame):
    _ct_signal.setitimer(_ct_signal.ITIMER_REAL, 1.0)
    raise CommandTimeout(_CT_MESSAGE)


class _CtOut(object):
    """stdout that stops the alarm once the report line is written: from then on the script is done."""

    def __init__(self, out):
        self._ct_out = out

    def write(self, text):
        if "ROLLBACK-REPORT " in text:
            _ct_signal.setitimer(_ct_signal.ITIMER_REAL, 0)
        return self._ct_out.write(text)

    def __getattr__(self, name):
        return getattr(self._ct_out, name)


_ct_signal.signal(_ct_signal.SIGALRM, _ct_alarm)
_ct_sys.stdout = _CtOut(_ct_sys.stdout)
_ct_signal.setitimer(_ct_signal.ITIMER_REAL, max(0.05, _CT_LIMIT - _ct_elapsed()))

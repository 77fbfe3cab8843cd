"""Waiting for locks: the session's lock_timeout, and a watch that notes who blocks the rollback
while it waits, so that a lock timeout can name them."""
import threading

from django.db import connections


def set_lock_timeout(connection, seconds):
    """lock_timeout for this session: never queue behind the live application's transactions for long."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", ["%dms" % int(float(seconds) * 1000)])


class BlockerWatch(object):
    """Notes which sessions block the rollback's connection while it waits for a lock, so a lock
    timeout can name them (by then the wait is over and pg_blocking_pids says nothing)."""

    _SQL = (
        "SELECT a.pid, a.application_name, a.usename, a.state, "
        "to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "left(a.query, 300) FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(%s)) ORDER BY a.pid"
    )

    def __init__(self, connection, lock_timeout):
        self.alias = connection.alias
        self.interval = min(0.25, float(lock_timeout) / 4) if lock_timeout else None
        self.stopping = threading.Event()
        self.found = []
        self.thread = None
        self.pid = None
        if self.interval and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]

    def start(self):
        if self.pid is None:
            return
        self.thread = threading.Thread(target=self._watch, name="rollback-lock-watch")
        self.thread.daemon = True
        self.thread.start()

    def _watch(self):
        connection = connections[self.alias]  # this thread's own connection
        try:
            while not self.stopping.wait(self.interval):
                with connection.cursor() as cursor:
                    cursor.execute(self._SQL, [self.pid])
                    rows = cursor.fetchall()
                if rows:
                    self.found = [
                        {"pid": r[0], "applicationName": r[1], "user": r[2], "state": r[3],
                         "transactionSince": r[4], "stateSince": r[5], "query": r[6]}
                        for r in rows
                    ]
        except Exception:  # the watch only adds detail to a report; it must never fail the run
            pass
        finally:
            connection.close()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
        return self.found

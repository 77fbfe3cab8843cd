"""Exact rollback of Django migrations, run inside the application's container.

The action sends this file and a JSON request on stdin to a short bootstrap,
`manage.py shell -v 0 -c BOOTSTRAP` (src/django/commands.ts), which exec()s it
with stdin replaced by the request; `manage.py shell -v 0 -c "<this file>"` with
the request alone on stdin works the same. The last stdout line is always
`ROLLBACK-REPORT <json>`. Works with Django 3.2 to 5.2 and Python 3.8+. Only
stdlib and Django imports: the file is shipped as text.

All or nothing: every run of consecutive atomic migrations is one database
transaction (Django's per-migration atomic blocks become savepoints inside it,
and the django_migrations deletes are inside it too), so a reverse that fails
on data leaves history, schema and data exactly as they were. A migration with
`atomic = False` cannot run in a transaction and runs alone between them.

exec() runs this text with one globals dict, so top-level functions see each
other; names start with an underscore to stay out of the shell's namespace.
"""

# Tables with more rows than this (by the planner's estimate) get estimated
# loss figures and uncounted hazards, so a dry run stays fast on big tables.
_EXACT_COUNT_LIMIT = 200000
# A count that takes longer than this is abandoned (the figure is then estimated or unknown).
_COUNT_TIMEOUT = "2s"
# Python source shown for a RunPython reverse, at most this many lines.
_PYTHON_LINES = 30


class _TrialDone(Exception):
    """Raised inside the trial's transaction once its migrations went through, to roll them back."""


class _Run(object):
    """The report being built, and what is in progress when something fails."""

    def __init__(self):
        self.report = {
            "version": 1,
            "django": None,
            "orphans": [],
            "bookkeeping": [],
            "rowsOnly": [],
            "plan": [],
            "problems": [],
            "blocked": False,
            "commands": [],
            "perApp": [],
            "commandsExtra": [],
            "commandsMissing": [],
            "hasFlagsmithCommand": False,
            "segments": [],
            "hazards": [],
            "losses": {"tables": [], "columns": []},
            "noopReverse": [],
            "executed": [],
            "rolledBack": [],
            "timings": {},
            "trial": None,
            "stoppedBefore": None,
            "rowsDeleted": [],
            "error": None,
        }
        self.line_open = False
        self.current = None
        self.started = None
        # Unapplied inside the open transaction: really unapplied only once it commits.
        self.pending = []
        self.in_transaction = False
        self.blockers = None

    @staticmethod
    def label(key):
        return "%s.%s" % (key[0], key[1])

    def problem(self, kind, migration, message, blocking, command=None):
        self.report["problems"].append({
            "kind": kind,
            "migration": migration,
            "message": message,
            "blocking": bool(blocking),
            "command": command,
        })
        if blocking:
            self.report["blocked"] = True


def _rollback_main():
    import json
    import sys

    run = _Run()
    try:
        _run(run)
    except Exception as exc:  # report every failure, never a bare traceback
        run.report["error"] = _describe_failure(run, exc)
    if run.line_open:
        # A progress line ("  Unapplying x...") may be open: the report starts on its own line.
        sys.stdout.write("\n")
    sys.stdout.write("ROLLBACK-REPORT " + json.dumps(run.report, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
    if run.report["error"]:
        # SystemExit goes through Django's shell and sets the process status.
        sys.exit(1)


def _describe_failure(run, exc):
    """The exception as facts: message, SQLSTATE, the migration, operation and SQL statement it stopped in."""
    import traceback

    cause = exc.__cause__ or exc.__context__
    sqlstate = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    operation, statement = None, None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        local = frame.f_locals
        # Migration.unapply's loop variable names the operation being undone (Django 3.2 to 5.2).
        if frame.f_code.co_name == "unapply" and "operation" in local and hasattr(local["operation"], "describe"):
            operation = local["operation"].describe()
        if frame.f_code.co_filename.endswith(("backends/utils.py", "backends\\utils.py")) and "sql" in local:
            statement = str(local["sql"])[:2000]
        tb = tb.tb_next
    message = str(exc).strip()
    return {
        "message": "%s: %s" % (type(exc).__name__, message),
        "exception": type(exc).__name__,
        "pgMessage": message.split("\n")[0] if sqlstate else None,
        "pgDetail": "\n".join(message.split("\n")[1:]).strip() or None if sqlstate else None,
        "sqlstate": sqlstate,
        "migration": run.current or run.report["stoppedBefore"],
        "operation": operation,
        "statement": statement,
        "blockers": run.blockers or [],
        "traceback": traceback.format_exc(),
    }


def _run(run):
    import json
    import sys

    import django
    from django.core.management import get_commands
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.recorder import MigrationRecorder

    report = run.report
    report["django"] = django.get_version()
    request = json.loads(sys.stdin.read())
    if request.get("version") != 1:
        raise ValueError("unsupported request version %r" % (request.get("version"),))
    connection = connections[request.get("database") or "default"]
    report["hasFlagsmithCommand"] = "rollbackmigrationsappliedafter" in get_commands()
    _set_lock_timeout(connection, request.get("lockTimeout") or 0)

    with _HistoryReadOnce():
        executor = MigrationExecutor(connection, _progress_callback(run, connection))
        _check_conflicts(run, executor.loader)
        # In order, once each (a set beside the list: S can be large).
        s_keys, seen = [], set()
        for row in request.get("after") or []:
            key = (row["app"], row["name"])
            if key not in seen:
                seen.add(key)
                s_keys.append(key)
        recorded = set(MigrationRecorder(connection).applied_migrations())
        exact, replaced_by = _classify_rows(run, executor.loader, s_keys, recorded)
        graph = executor.loader.graph
        plan_nodes = _plan_nodes(run, graph, exact, replaced_by)
        full_plan = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
        # Reverse of the order Django would apply everything on an empty database.
        plan = _defer_non_atomic([m for m, _ in reversed(full_plan) if (m.app_label, m.name) in plan_nodes], graph)

        noop = _apply_noop_reverse(run, plan, request.get("noopReverse") or [], executor.loader, recorded)
        _check_plan(run, plan, graph, plan_nodes, set(executor.loader.applied_migrations),
                    bool(request.get("allowIrreversible")), noop)
        report["segments"] = [
            {"atomic": atomic, "migrations": [run.label((m.app_label, m.name)) for m in migrations]}
            for atomic, migrations in _segments(plan, connection)
        ]
        if request.get("analyse", True):
            _analyse(run, executor, connection, plan, full_plan)
        _evaluate_commands(run, executor.loader, connection, request, exact, recorded)

    trial = bool(request.get("trial"))
    if report["blocked"] or not (request.get("execute") or trial):
        return
    runnable = _until_irreversible(run, plan)
    watch = _BlockerWatch(connection, request.get("lockTimeout") or 0)
    watch.start()
    try:
        _execute(run, executor, connection, runnable, trial)
    finally:
        run.blockers = watch.stop()
    if report["stoppedBefore"] and not trial:
        raise _StoppedBeforeIrreversible(
            "stopped before %s, which is irreversible (allow-irreversible: true ran the migrations before it "
            "and committed them). Name it in noop-reverse to skip its irreversible operations, or restore from a backup"
            % report["stoppedBefore"])


class _HistoryReadOnce(object):
    """While planning, every MigrationRecorder.applied_migrations() (the loader's, each checked command's
    fresh executor's, ours) returns a copy of one read: a full read of django_migrations costs about 0.35 s
    per 100,000 rows, and planning made one per app. Put back before anything is unapplied, so the run
    reads the table as it is then."""

    def __enter__(self):
        from django.db.migrations.recorder import MigrationRecorder

        self.original = original = MigrationRecorder.applied_migrations
        cache = {}

        def applied_migrations(recorder):
            alias = recorder.connection.alias
            if alias not in cache:
                cache[alias] = original(recorder)
            return dict(cache[alias])  # the loader edits its dict (squash replacements)

        MigrationRecorder.applied_migrations = applied_migrations
        return self

    def __exit__(self, *exc):
        from django.db.migrations.recorder import MigrationRecorder

        MigrationRecorder.applied_migrations = self.original
        return False


class _StoppedBeforeIrreversible(Exception):
    """allow-irreversible ran the plan up to an irreversible migration and stopped there."""


def _set_lock_timeout(connection, seconds):
    """lock_timeout for this session: never queue behind the live application's transactions for long."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", ["%dms" % int(float(seconds) * 1000)])


def _progress_callback(run, connection):
    """migrate's progress lines, timings, and which unapplied migrations are committed."""
    import time

    import django
    from django.db.migrations.recorder import MigrationRecorder

    def progress(action, migration=None, fake=False):
        import sys

        if action == "unapply_start":
            run.current = run.label((migration.app_label, migration.name))
            sys.stdout.write("  Unapplying %s..." % (migration,))
            sys.stdout.flush()
            run.line_open = True
            run.started = time.monotonic()
        elif action == "unapply_success":
            name = run.label((migration.app_label, migration.name))
            if migration.replaces and django.VERSION < (4, 0):
                # Django before 4.0 deletes only the replaced names' rows; 4.0+ deletes the squash's own too.
                MigrationRecorder(connection).record_unapplied(migration.app_label, migration.name)
            if run.in_transaction:
                # What a commit between migrations would do: check the deferred constraints now, so a
                # later ALTER TABLE in the same transaction does not meet "pending trigger events".
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                run.pending.append(name)
            else:
                run.report["executed"].append(name)
            run.report["timings"][name] = round(time.monotonic() - run.started, 4)
            sys.stdout.write(" OK\n")
            sys.stdout.flush()
            run.line_open = False
            run.current = None

    return progress


def _check_conflicts(run, loader):
    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join("%s in %s" % (", ".join(sorted(v)), k) for k, v in sorted(conflicts.items()))
        run.problem("conflict", None,
                    "Conflicting migrations detected; multiple leaf nodes in the migration graph: (%s). "
                    "Django's migrate refuses to run; fix the code (makemigrations --merge) before rolling back."
                    % names, True)


def _classify_rows(run, loader, s_keys, recorded):
    """Splits S into what Django unapplies, orphans (no file) and squash rows (see the squash notes in docs)."""
    report, label = run.report, run.label
    s_set = set(s_keys)
    before = recorded - s_set
    orphans = sorted(k for k in s_set if k not in loader.disk_migrations)
    excluded = set(orphans)
    split = set()        # squashes whose replaced migrations straddle the cutoff
    replaced_by = {}     # replaced key -> squash key
    for q_key, q in loader.replacements.items():
        replaced = set(q.replaces)
        for r in replaced:
            replaced_by[r] = q_key
        r_in = replaced & s_set
        r_before = replaced & before
        if r_in and r_before:
            split.add(q_key)
            if q_key in s_set:
                report["rowsOnly"].append(label(q_key))
                excluded.add(q_key)
            elif q_key in before:
                run.problem("squash", label(q_key),
                            "The squash row %s predates the cutoff but some migrations it replaces are after it; "
                            "after the rollback its row is stale (Django ignores it while a replaced migration is "
                            "unapplied)." % label(q_key), False)
        elif q_key in s_set and not r_in and r_before == replaced:
            report["bookkeeping"].append(label(q_key))
            excluded.add(q_key)
        elif q_key in s_set and r_in != replaced:
            # Some migrations it replaces are not applied (typically: an earlier
            # run was interrupted after unapplying them). Django already treats
            # the squash as unapplied; only its stale row is left to delete.
            report["rowsOnly"].append(label(q_key))
            excluded.add(q_key)
        elif q_key in before and r_in == replaced:
            run.problem("squash", label(q_key),
                        "The squash row %s predates the cutoff but every migration it replaces is after it. "
                        "Check django_migrations by hand." % label(q_key), True)
    report["orphans"] = [label(k) for k in orphans]
    report["bookkeeping"].sort()
    report["rowsOnly"].sort()
    if split:
        _rebuild_without_split_squashes(loader, split)
    return [k for k in s_keys if k not in excluded], replaced_by


def _rebuild_without_split_squashes(loader, split):
    """Like Django's migration_plan for a replaced target: a split squash is dropped and its children are
    remapped onto the replaced migrations (what Django does for a partially applied squash); every other
    squash is handled exactly as Django would."""
    loader.replace_migrations = False
    loader.build_graph()
    graph = loader.graph
    for q_key, q in loader.replacements.items():
        statuses = [r in loader.applied_migrations for r in q.replaces]
        if q_key not in split and (all(statuses) or not any(statuses)):
            if all(statuses):
                loader.applied_migrations[q_key] = q
            graph.remove_replaced_nodes(q_key, q.replaces)
        else:
            loader.applied_migrations.pop(q_key, None)
            graph.remove_replacement_node(q_key, q.replaces)
    graph.validate_consistency()


def _plan_nodes(run, graph, exact, replaced_by):
    """The rows mapped onto graph nodes: a fully applied squash stands for the migrations it replaces."""
    nodes = set()
    for key in exact:
        if key in graph.nodes:
            nodes.add(key)
        elif key in replaced_by and replaced_by[key] in graph.nodes:
            nodes.add(replaced_by[key])
        else:
            run.problem("unknown", run.label(key),
                        "%s is in django_migrations and on disk but not in the migration graph; cannot plan it."
                        % run.label(key), True)
    return nodes


def _defer_non_atomic(plan, graph):
    """The same plan with each atomic = False migration as late as its dependants allow, so the first
    all-or-nothing segment is as large as it can be. Unchanged when every migration is atomic."""
    if all(m.atomic for m in plan):
        return plan
    keys = [(m.app_label, m.name) for m in plan]
    in_plan = set(keys)
    # A migration is unapplied only after every planned migration that depends on it.
    waits_for = dict((k, set(graph.backwards_plan(k)) & in_plan - {k}) for k in keys)
    done, ordered = set(), []
    remaining = list(plan)
    while remaining:
        ready = [m for m in remaining if waits_for[(m.app_label, m.name)] <= done]
        chosen = next((m for m in ready if m.atomic), ready[0])
        ordered.append(chosen)
        done.add((chosen.app_label, chosen.name))
        remaining.remove(chosen)
    return ordered


def _irreversible_operations(operation):
    """The operations that cannot run backwards, looking inside SeparateDatabaseAndState, whose own
    `reversible` says True even when a database operation in it has no reverse."""
    inner = getattr(operation, "database_operations", None)
    if inner is not None:
        found = []
        for nested in inner:
            found.extend(_irreversible_operations(nested))
        return found
    return [] if getattr(operation, "reversible", True) else [operation]


def _describe_operations(migration, skipped):
    from django.core.management.commands.migrate import Command as MigrateCommand

    ops = []
    for operation in migration.operations:
        text, _ = MigrateCommand.describe_operation(operation, True)
        op = {"description": text, "irreversible": bool(_irreversible_operations(operation))}
        if id(operation) in skipped:
            op["skipped"] = True
        ops.append(op)
    return ops


def _apply_noop_reverse(run, plan, names, loader, recorded):
    """noop-reverse: the named migrations' irreversible RunPython/RunSQL become no-ops when unapplied.
    Returns the ids of the top-level operations changed, for the report."""
    from django.db.migrations.operations.special import RunPython, RunSQL

    by_label = dict((run.label((m.app_label, m.name)), m) for m in plan)
    skipped = set()
    for name in names:
        migration = by_label.get(name)
        key = tuple(name.split(".", 1))
        if migration is None and key in loader.disk_migrations and key not in recorded:
            # Unapplied already, typically by an earlier run with the same inputs that stopped later on.
            run.problem("noop-reverse", name,
                        "noop-reverse names %s, which is not applied (any more): nothing to skip." % name, False)
            continue
        if migration is None:
            why = "which this rollback does not unapply" if key in recorded else "which the code does not have"
            run.problem("noop-reverse", name,
                        "noop-reverse names %s, %s: remove it from noop-reverse (the plan is in the summary)."
                        % (name, why), True)
            continue
        entry = {"migration": name, "operations": []}
        for operation in migration.operations:
            for target in _irreversible_operations(operation):
                if isinstance(target, RunPython):
                    target.reverse_code = RunPython.noop
                elif isinstance(target, RunSQL):
                    target.reverse_sql = RunSQL.noop
                else:
                    run.problem("noop-reverse", name,
                                "%s: %s is irreversible and is not RunPython or RunSQL, so noop-reverse cannot "
                                "skip it." % (name, target.describe()), True)
                    continue
                skipped.add(id(operation))
                entry["operations"].append(target.describe())
        if not entry["operations"]:
            run.problem("noop-reverse", name,
                        "noop-reverse names %s, which has no irreversible operation: nothing is skipped." % name,
                        False)
        run.report["noopReverse"].append(entry)
    return skipped


def _check_plan(run, plan, graph, plan_nodes, applied_nodes, allow_irreversible, skipped):
    label = run.label
    for migration in plan:
        key = (migration.app_label, migration.name)
        ops = _describe_operations(migration, skipped)
        run.report["plan"].append({"migration": label(key), "operations": ops, "atomic": bool(migration.atomic)})
        if any(op["irreversible"] for op in ops):
            run.problem("irreversible", label(key),
                        "%s has an irreversible operation (%s)."
                        % (label(key), "; ".join(op["description"] for op in ops if op["irreversible"])),
                        not allow_irreversible)
        if key not in applied_nodes:
            run.problem("unknown", label(key),
                        "%s is recorded after the cutoff but Django does not consider it applied." % label(key), True)
        for child in graph.backwards_plan(key):
            if child != key and child not in plan_nodes and child in applied_nodes:
                run.problem("outside", label(child),
                            "%s (applied before the cutoff) depends on %s, which the rollback would unapply: "
                            "the history would be inconsistent. Choose an earlier cutoff." % (label(child), label(key)),
                            True)


def _segments(plan, connection):
    """Consecutive atomic migrations share one transaction; a non-atomic one runs alone."""
    segments = []
    transactional = connection.features.can_rollback_ddl
    for migration in plan:
        atomic = bool(migration.atomic and transactional)
        if atomic and segments and segments[-1][0]:
            segments[-1][1].append(migration)
        else:
            segments.append((atomic, [migration]))
    return segments


def _until_irreversible(run, plan):
    """The plan up to the first migration that still has an irreversible operation (allow-irreversible)."""
    for index, migration in enumerate(plan):
        if _irreversible_operations_of(migration):
            run.report["stoppedBefore"] = run.label((migration.app_label, migration.name))
            return plan[:index]
    return plan


def _irreversible_operations_of(migration):
    found = []
    for operation in migration.operations:
        found.extend(_irreversible_operations(operation))
    return found


class _BlockerWatch(object):
    """Notes which sessions block the rollback's connection while it waits for a lock, so a lock
    timeout can name them (by then the wait is over and pg_blocking_pids says nothing)."""

    _SQL = (
        "SELECT a.pid, a.application_name, a.usename, a.state, "
        "to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "left(a.query, 300) FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(%s)) ORDER BY a.pid"
    )

    def __init__(self, connection, lock_timeout):
        import threading

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
        import threading

        if self.pid is None:
            return
        self.thread = threading.Thread(target=self._watch, name="rollback-lock-watch")
        self.thread.daemon = True
        self.thread.start()

    def _watch(self):
        from django.db import connections

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


def _execute(run, executor, connection, plan, trial):
    """Unapplies the plan segment by segment (see the module docstring); a trial stops after the first
    segment's transaction and rolls it back."""
    import sys

    from django.db import transaction
    from django.core.management.sql import emit_pre_migrate_signal

    report = run.report
    segments = _segments(plan, connection)
    if trial:
        untried = [run.label((m.app_label, m.name)) for _, ms in segments[1:] for m in ms]
        report["trial"] = {"tried": [], "untried": untried, "notAtomic": None}
        if segments and not segments[0][0]:
            report["trial"]["notAtomic"] = run.label((segments[0][1][0].app_label, segments[0][1][0].name))
            report["trial"]["untried"] = [run.label((m.app_label, m.name)) for _, ms in segments for m in ms]
            return
        if len(segments) > 1:
            report["trial"]["notAtomic"] = run.label((segments[1][1][0].app_label, segments[1][1][0].name))
        segments = segments[:1]
    # As the migrate command does: pre_migrate, migrate with the plan, post_migrate.
    backwards_plan = [(migration, True) for migration in plan]
    pre_state = executor._create_project_state(with_applied_migrations=True)
    emit_pre_migrate_signal(0, False, connection.alias, stdout=sys.stdout, apps=pre_state.apps, plan=backwards_plan)
    stale_rows = list(report["rowsOnly"])
    if stale_rows and (not segments or not segments[0][0]):
        # Nothing atomic to share a transaction with: the stale rows go in one of their own.
        with transaction.atomic(using=connection.alias):
            _delete_stale_rows(run, connection, stale_rows)
        report["rowsDeleted"] = stale_rows
        stale_rows = []
    post_state = None
    for index, (atomic, migrations) in enumerate(segments):
        segment_plan = [(m, True) for m in migrations]
        if not atomic:
            post_state = executor.migrate([], plan=segment_plan)
        else:
            try:
                with transaction.atomic(using=connection.alias):
                    run.in_transaction = True
                    if index == 0 and stale_rows:
                        _delete_stale_rows(run, connection, stale_rows)
                    post_state = executor.migrate([], plan=segment_plan)
                    if trial:
                        raise _TrialDone()
            except _TrialDone:
                report["trial"]["tried"] = list(run.pending)
                run.pending = []
                return
            except BaseException:
                report["rolledBack"] = list(run.pending)
                run.pending = []
                raise
            finally:
                run.in_transaction = False
            report["executed"].extend(run.pending)
            run.pending = []
            if index == 0 and stale_rows:
                report["rowsDeleted"] = stale_rows
        # The next segment plans from the history as it is now.
        for migration in migrations:
            executor.loader.applied_migrations.pop((migration.app_label, migration.name), None)
    if post_state is not None:
        _emit_post_migrate(connection, post_state, backwards_plan)


def _delete_stale_rows(run, connection, rows):
    """Stale squash rows: Django decides a squash's state from the rows of what it replaces, so deleting
    them changes nothing Django sees, and a failed later segment leaves none behind for the next run."""
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    for row in rows:
        app_label, name = row.split(".", 1)
        recorder.record_unapplied(app_label, name)


def _emit_post_migrate(connection, post_state, backwards_plan):
    import sys

    from django.apps import apps as global_apps
    from django.core.management.sql import emit_post_migrate_signal
    from django.db.migrations.state import ModelState

    post_state.clear_delayed_apps_cache()
    post_apps = post_state.apps
    with post_apps.bulk_update():
        model_keys = []
        for model_state in post_apps.real_models:
            model_key = model_state.app_label, model_state.name_lower
            model_keys.append(model_key)
            post_apps.unregister_model(*model_key)
    post_apps.render_multiple([ModelState.from_model(global_apps.get_model(*m)) for m in model_keys])
    emit_post_migrate_signal(0, False, connection.alias, stdout=sys.stdout, apps=post_apps, plan=backwards_plan)


def _states_before(executor, plan, full_plan):
    """The project state just before each planned migration, computed as Django's
    MigrationExecutor._migrate_all_backwards does."""
    to_do = set(plan)
    states = {}
    state = executor._create_project_state()
    applied = set(
        executor.loader.graph.nodes[key] for key in executor.loader.applied_migrations
        if key in executor.loader.graph.nodes
    )
    for migration, _ in full_plan:
        if not to_do:
            break
        if migration in to_do:
            if "apps" not in state.__dict__:
                state.apps  # render once; later states are cloned from it
            states[migration] = state
            state = migration.mutate_state(state, preserve=True)
            to_do.remove(migration)
        elif migration in applied:
            migration.mutate_state(state, preserve=False)
    return states


def _analyse(run, executor, connection, plan, full_plan):
    """Before anything runs: the SQL of each reverse (as sqlmigrate --backwards prints it), the reverse
    steps that can fail on data, and what the plan drops, with row counts."""
    from django.db import transaction

    states = _states_before(executor, plan, full_plan)
    entries = dict((e["migration"], e) for e in run.report["plan"])
    drops = []
    # Collecting runs each operation's database_backwards against a collecting schema editor; a custom
    # operation may still touch the database directly, so all of it happens in a transaction rolled back.
    with transaction.atomic(using=connection.alias):
        for migration in plan:
            name = run.label((migration.app_label, migration.name))
            try:
                with transaction.atomic(using=connection.alias):
                    sql, hazards = _collect_migration(connection, migration, states[migration])
            except Exception as exc:
                sql, hazards = ["-- the SQL could not be rendered: %s: %s" % (type(exc).__name__, exc)], []
            entries[name]["sql"] = sql
            for hazard in hazards:
                hazard["migration"] = name
                run.report["hazards"].append(hazard)
            drops.extend(_drops_in(name, sql))
        transaction.set_rollback(True, using=connection.alias)
    for hazard in run.report["hazards"]:
        hazard["rows"], hazard["counted"] = _count_hazard(connection, hazard)
    run.report["losses"] = _count_losses(connection, drops)


def _collect_migration(connection, migration, state):
    """Mirrors Migration.unapply with a collecting schema editor: SQL per operation, and the hazards."""
    steps = []
    new_state = state
    for operation in migration.operations:
        new_state = new_state.clone()
        old_state = new_state.clone()
        operation.state_forwards(migration.app_label, new_state)
        steps.insert(0, (operation, old_state, new_state))
    hazards = []
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for operation, to_state, from_state in steps:
            hazards.extend(_hazards_of(connection, editor, migration.app_label, operation, from_state, to_state))
            editor.collected_sql.append("-- %s" % operation.describe())
            if _irreversible_operations(operation):
                editor.collected_sql.append("-- IRREVERSIBLE: no reverse operation")
                continue
            python = _python_code(operation)
            if python is not None:
                editor.collected_sql.extend(python)
                continue
            before = len(editor.collected_sql)
            with _as_if_outside_transaction(connection, operation):
                operation.database_backwards(migration.app_label, editor, from_state, to_state)
            if len(editor.collected_sql) == before:
                editor.collected_sql.append("-- (no SQL)")
    return list(editor.collected_sql), hazards


def _python_code(operation):
    """Comment lines showing a RunPython reverse (anywhere inside the operation), or None when it has none."""
    import inspect

    from django.db.migrations.operations.special import RunPython

    inner = getattr(operation, "database_operations", None)
    targets = list(inner) if inner is not None else [operation]
    code = [op.reverse_code for op in targets if isinstance(op, RunPython)]
    if not code:
        return None
    lines = []
    for function in code:
        if function is RunPython.noop or getattr(function, "__name__", "") == "noop":
            lines.append("-- Python: RunPython.noop (does nothing)")
            continue
        lines.append("-- Python (no SQL): %s.%s" % (function.__module__, getattr(function, "__qualname__", function)))
        try:
            source = inspect.getsource(function).rstrip("\n").split("\n")
        except (OSError, TypeError):
            source = ["(source not available)"]
        if len(source) > _PYTHON_LINES:
            source = source[:_PYTHON_LINES] + ["... %d more lines" % (len(source) - _PYTHON_LINES)]
        lines.extend("--   " + line for line in source)
    return lines


class _as_if_outside_transaction(object):
    """AddIndexConcurrently and its kind refuse to run inside a transaction, even to collect SQL, which
    is all that happens here (sqlmigrate collects theirs outside one)."""

    def __init__(self, connection, operation):
        self.connection = connection
        self.active = hasattr(operation, "_ensure_not_in_transaction")
        self.saved = None

    def __enter__(self):
        if self.active:
            self.saved = self.connection.in_atomic_block
            self.connection.in_atomic_block = False

    def __exit__(self, *exc):
        if self.active:
            self.connection.in_atomic_block = self.saved
        return False


def _hazards_of(connection, editor, app_label, operation, from_state, to_state):
    """Reverse steps that fail on data written since: NOT NULL or unique put back, a column shrunk,
    a NOT NULL column re-added without a default."""
    from django.db.migrations import operations as ops

    found = []
    if isinstance(operation, (ops.AlterField, ops.RemoveField, ops.AlterUniqueTogether)):
        model = to_state.apps.get_model(app_label, operation.name if isinstance(
            operation, ops.AlterUniqueTogether) else operation.model_name)
        if not operation.allow_migrate_model(connection.alias, model):
            return found
        table = model._meta.db_table

        def hazard(kind, columns, detail, **extra):
            item = {"kind": kind, "table": table, "columns": columns, "operation": operation.describe(),
                    "detail": detail}
            item.update(extra)
            found.append(item)

        if isinstance(operation, ops.AlterField):
            restored = model._meta.get_field(operation.name)
            current = from_state.apps.get_model(app_label, operation.model_name)._meta.get_field(operation.name)
            if restored.column is None:
                return found
            if current.null and not restored.null:
                hazard("not-null", [restored.column], "NOT NULL is put back on %s.%s" % (table, restored.column))
            old_length = getattr(restored, "max_length", None)
            new_length = getattr(current, "max_length", None)
            if old_length and new_length and old_length < new_length:
                hazard("max-length", [restored.column],
                       "%s.%s shrinks from %d to %d characters" % (table, restored.column, new_length, old_length),
                       maxLength=old_length)
            if restored.unique and not current.unique and not restored.primary_key:
                hazard("unique", [restored.column], "UNIQUE is put back on %s.%s" % (table, restored.column))
        elif isinstance(operation, ops.RemoveField):
            field = model._meta.get_field(operation.name)
            if field.column and not field.many_to_many and not field.null and editor._effective_default(field) is None:
                hazard("not-null-no-default", [field.column],
                       "%s.%s comes back as NOT NULL without a default" % (table, field.column))
        else:
            now = from_state.apps.get_model(app_label, operation.name)._meta.unique_together
            for fields in set(tuple(f) for f in model._meta.unique_together) - set(tuple(f) for f in now):
                columns = [model._meta.get_field(f).column for f in fields]
                hazard("unique", columns, "UNIQUE (%s) is put back on %s" % (", ".join(columns), table))
    return found


def _drops_in(migration, sql):
    """The tables and columns a reverse drops, read from its SQL (Django's schema editor writes them so)."""
    import re

    drops = []
    for statement in sql:
        if statement.startswith("--"):
            continue
        table = re.match(r'\s*DROP TABLE (?:IF EXISTS )?"?([^"\s;]+)"?', statement, re.I)
        if table:
            drops.append({"migration": migration, "table": table.group(1), "column": None})
            continue
        column = re.match(r'\s*ALTER TABLE "?([^"\s]+)"? DROP COLUMN (?:IF EXISTS )?"?([^"\s;]+)"?', statement, re.I)
        if column:
            drops.append({"migration": migration, "table": column.group(1), "column": column.group(2)})
    return drops


def _query(connection, sql, params=()):
    """One read under a statement timeout, in its own transaction; None when it failed or took too long."""
    from django.db import transaction

    try:
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [_COUNT_TIMEOUT])
                cursor.execute(sql, list(params))
                return cursor.fetchall()
    except Exception:
        return None


def _table_estimate(connection, table):
    """(exists, estimated rows or None when never analysed)."""
    rows = _query(connection, "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                  [connection.ops.quote_name(table)])
    if not rows:
        return False, None
    estimate = rows[0][0]
    return True, (int(estimate) if estimate is not None and estimate >= 0 else None)


def _count_hazard(connection, hazard):
    """Rows that make the reverse fail, counted now; (None, False) when the table is too big or the count failed."""
    exists, estimate = _table_estimate(connection, hazard["table"])
    if not exists or (estimate is not None and estimate > _EXACT_COUNT_LIMIT):
        return None, False
    q = connection.ops.quote_name
    table = q(hazard["table"])
    cols = [q(c) for c in hazard["columns"]]
    kind = hazard["kind"]
    if kind == "not-null":
        sql, params = "SELECT count(*) FROM %s WHERE %s IS NULL" % (table, cols[0]), []
    elif kind == "max-length":
        sql, params = "SELECT count(*) FROM %s WHERE char_length(%s) > %%s" % (table, cols[0]), [hazard["maxLength"]]
    elif kind == "unique":
        sql = ("SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM %s WHERE %s GROUP BY %s "
               "HAVING count(*) > 1) AS d" % (table, " AND ".join("%s IS NOT NULL" % c for c in cols), ", ".join(cols)))
        params = []
    else:
        sql, params = "SELECT count(*) FROM %s" % table, []
    rows = _query(connection, sql, params)
    return (int(rows[0][0]), True) if rows else (None, False)


def _count_losses(connection, drops):
    """Rows of each dropped table and non-null values of each dropped column: exact, or the planner's
    estimate for big tables. A table or column the rollback itself creates first holds nothing now."""
    q = connection.ops.quote_name
    tables, columns = [], []
    by_table = {}
    for drop in drops:
        by_table.setdefault(drop["table"], []).append(drop)
    for table, items in by_table.items():
        exists, estimate = _table_estimate(connection, table)
        if not exists:
            continue
        present = _query(connection, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                         "AND attnum > 0 AND NOT attisdropped", [q(table)]) or []
        present = set(r[0] for r in present)
        wanted = [d["column"] for d in items if d["column"] and d["column"] in present]
        counts = None
        if estimate is None or estimate <= _EXACT_COUNT_LIMIT:
            counts = _query(connection, "SELECT count(*)%s FROM %s" % (
                "".join(", count(%s)" % q(c) for c in wanted), q(table)))
        if counts:
            values, exact = dict(zip(wanted, counts[0][1:])), True
            total = int(counts[0][0])
        else:
            stats = _query(connection, "SELECT attname, null_frac FROM pg_stats WHERE schemaname = current_schema() "
                           "AND tablename = %s", [table]) or []
            null_frac = dict((r[0], r[1]) for r in stats)
            total = estimate
            values = dict((c, int(round(estimate * (1 - null_frac[c]))) if estimate is not None and c in null_frac
                           else None) for c in wanted)
            exact = False
        for drop in items:
            if drop["column"] is None:
                tables.append({"migration": drop["migration"], "table": table, "rows": total, "exact": exact})
            elif drop["column"] in present:
                columns.append({"migration": drop["migration"], "table": table, "column": drop["column"],
                                "values": values.get(drop["column"]), "exact": exact})
    return {"tables": tables, "columns": columns}


def _evaluate_commands(run, loader, connection, request, exact, recorded):
    """Per-app targets for the documented style, and every `migrate APP TARGET` command checked against
    the exact plan. Each app's target is its newest row before the cutoff that is a real step: a squash
    row is bookkeeping Django writes at the end of a migrate run, after the migrations that follow the
    squash, so as a target it would unapply those long-applied migrations; a name with no file cannot be
    a target at all."""
    from django.db.migrations.executor import MigrationExecutor

    report, label = run.report, run.label
    exact_apps = set(k[0] for k in exact)
    for entry in request.get("perApp") or []:
        app_label = entry["app"]
        if app_label not in exact_apps:
            continue  # only orphans or bookkeeping rows: nothing to run
        target, fallback = None, None
        for name in entry.get("before") or []:
            key = (app_label, name)
            if key not in loader.disk_migrations:
                continue
            if key in loader.replacements:
                fallback = fallback or name
                continue
            target = name
            break
        report["perApp"].append({"app": app_label, "target": target or fallback or "zero"})

    def rows_of(key, migration):
        rows = {key}
        if getattr(migration, "replaces", None):
            rows |= set(migration.replaces)
        return rows & recorded

    commands = list(request.get("commands") or []) + report["perApp"]
    exact_rows = set(exact)
    cmd_rows = set()
    executor = None
    for command in commands:
        # A fresh executor, as the migrate command has; one serves the next command too unless planning a
        # replaced target made Django rebuild its graph without replacements (building one costs ~35 ms).
        if executor is None or not executor.loader.replace_migrations:
            executor = MigrationExecutor(connection)
        cmd_rows |= _evaluate_command(run, executor, command, rows_of)
    rows_only = set(tuple(r.split(".", 1)) for r in report["rowsOnly"])
    report["commandsExtra"] = sorted(label(k) for k in cmd_rows - exact_rows - rows_only)
    report["commandsMissing"] = sorted(label(k) for k in exact_rows - cmd_rows) if commands else []


def _evaluate_command(run, executor, command, rows_of):
    """`migrate APP TARGET` as the migrate command would plan it."""
    from django.apps import apps as global_apps
    from django.db.migrations.exceptions import AmbiguityError

    label = run.label
    app_label, target = command["app"], command["target"]
    text = "migrate %s %s" % (app_label, target)
    entry = {"app": app_label, "target": target, "resolved": None, "error": None, "plan": [], "irreversible": []}
    run.report["commands"].append(entry)

    def fail(kind, message, migration=None):
        entry["error"] = "%s: %s" % (kind, message)
        run.problem(kind, migration, "`%s`: %s" % (text, message), False, command=text)
        return set()

    loader = executor.loader
    try:
        global_apps.get_app_config(app_label)
    except LookupError:
        return fail("unknown-app", "No installed app with label '%s'." % app_label)
    if app_label not in loader.migrated_apps:
        return fail("unknown-app", "App '%s' does not have migrations." % app_label)
    if target == "zero":
        entry["resolved"] = "zero"
        key = (app_label, None)
    else:
        try:
            migration = loader.get_migration_by_prefix(app_label, target)
        except AmbiguityError:
            names = sorted(n for a, n in loader.disk_migrations if a == app_label and n.startswith(target))
            return fail("ambiguous",
                        "More than one migration matches '%s' in app '%s' (%s); Django matches by prefix with no "
                        "exact-match precedence, so this target cannot be used. Use the exact strategy."
                        % (target, app_label, ", ".join(names)))
        except KeyError:
            return fail("not-found", "Cannot find a migration matching '%s' from app '%s'." % (target, app_label))
        entry["resolved"] = migration.name
        key = (app_label, migration.name)
        # Same substitution as the migrate command for a partially applied squash.
        if key not in loader.graph.nodes and key in loader.replacements:
            key = loader.replacements[key].replaces[-1]
    try:
        planned = executor.migration_plan([key])
    except Exception as exc:
        # Django before 4.0 cannot plan a replaced migration as target while its
        # squash is applied (KeyError in migration_plan): that is what migrate does too.
        replaced = any(key in q.replaces for q in loader.replacements.values())
        return fail("squash" if replaced else "unknown",
                    "Django cannot plan this target (%s: %s)%s." % (
                        type(exc).__name__, exc,
                        "; it is replaced by a squashed migration" if replaced else ""))
    rows = set()
    for migration, backwards in planned:
        m_key = (migration.app_label, migration.name)
        entry["plan"].append({"migration": label(m_key), "backwards": bool(backwards)})
        if backwards:
            rows |= rows_of(m_key, migration)
            if _irreversible_operations_of(migration):
                entry["irreversible"].append(label(m_key))
        else:
            run.problem("forward", label(m_key),
                        "`%s` would apply %s (migrate forwards) instead of rolling back." % (text, label(m_key)),
                        False, command=text)
    return rows


_rollback_main()

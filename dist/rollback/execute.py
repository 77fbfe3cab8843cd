"""Unapplying the plan: every run of consecutive atomic migrations in one transaction (Django's
per-migration atomic blocks become savepoints inside it, the django_migrations deletes too), so a
reverse that fails on data leaves history, schema and data as they were; an `atomic = False` migration
runs alone between them. A trial runs the first segment and rolls it back. Progress lines as migrate's."""
import sys
import time

import django
from django.apps import apps as global_apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState

from _dmr_rollback_locks import BlockerWatch
from _dmr_rollback_plan import irreversible_operations_of, segments as segments_of


class _TrialDone(Exception):
    """Raised inside the trial's transaction once its migrations went through, to roll them back."""


class _StoppedBeforeIrreversible(Exception):
    """allow-irreversible ran the plan up to an irreversible migration and stopped there."""
    # src/fault.ts reads this class name from the report: keep it.


def progress_callback(run, connection):
    """migrate's progress lines, timings, and which unapplied migrations are committed."""

    def progress(action, migration=None, fake=False):
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


def run_plan(run, executor, connection, plan, request, trial):
    """Unapplies the plan up to its first irreversible migration, noting who blocks it meanwhile."""
    runnable = _until_irreversible(run, plan)
    watch = BlockerWatch(connection, request.get("lockTimeout") or 0)
    watch.start()
    try:
        _execute(run, executor, connection, runnable, trial)
    finally:
        run.blockers = watch.stop()
    if run.report["stoppedBefore"] and not trial:
        raise _StoppedBeforeIrreversible(
            "stopped before %s, which is irreversible (allow-irreversible: true ran the migrations before it "
            "and committed them). Name it in noop-reverse to skip its irreversible operations, or restore from a backup"
            % run.report["stoppedBefore"])


def _until_irreversible(run, plan):
    """The plan up to the first migration that still has an irreversible operation (allow-irreversible)."""
    for index, migration in enumerate(plan):
        if irreversible_operations_of(migration):
            run.report["stoppedBefore"] = run.label((migration.app_label, migration.name))
            return plan[:index]
    return plan


def _execute(run, executor, connection, plan, trial):
    """Unapplies the plan segment by segment (see the module docstring); a trial stops after the first
    segment's transaction and rolls it back."""
    report = run.report
    segments = segments_of(plan, connection)
    if trial:
        segments = _trial_segments(run, segments)
        if not segments:
            return  # nothing a trial can try: and a trial must never delete a row outside its transaction
    # As the migrate command does: pre_migrate, migrate with the plan, post_migrate.
    backwards_plan = [(migration, True) for migration in plan]
    pre_state = executor._create_project_state(with_applied_migrations=True)
    emit_pre_migrate_signal(0, False, connection.alias, stdout=sys.stdout, apps=pre_state.apps, plan=backwards_plan)
    stale_rows = _stale_rows_for_first_segment(run, connection, segments)
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
                        _delete_stale_rows(connection, stale_rows)
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


def _trial_segments(run, segments):
    """A trial runs the first segment only, and only when it is atomic: that segment, or None when there
    is nothing a trial can try. Notes in the report what stays untried and why."""
    label = run.label
    untried = [label((m.app_label, m.name)) for _, ms in segments[1:] for m in ms]
    trial = run.report["trial"] = {"tried": [], "untried": untried, "notAtomic": None}
    if segments and not segments[0][0]:
        trial["notAtomic"] = label((segments[0][1][0].app_label, segments[0][1][0].name))
        trial["untried"] = [label((m.app_label, m.name)) for _, ms in segments for m in ms]
        return None
    if len(segments) > 1:
        trial["notAtomic"] = label((segments[1][1][0].app_label, segments[1][1][0].name))
    return segments[:1]


def _stale_rows_for_first_segment(run, connection, segments):
    """The stale squash rows to delete in the first segment's transaction. With no atomic first segment to
    share one, they are deleted now in a transaction of their own, and none are left for it."""
    stale_rows = list(run.report["rowsOnly"])
    if stale_rows and (not segments or not segments[0][0]):
        with transaction.atomic(using=connection.alias):
            _delete_stale_rows(connection, stale_rows)
        run.report["rowsDeleted"] = stale_rows
        stale_rows = []
    return stale_rows


def _delete_stale_rows(connection, rows):
    """Stale squash rows: Django decides a squash's state from the rows of what it replaces, so deleting
    them changes nothing Django sees, and a failed later segment leaves none behind for the next run."""
    recorder = MigrationRecorder(connection)
    for row in rows:
        app_label, name = row.split(".", 1)
        recorder.record_unapplied(app_label, name)


def _emit_post_migrate(connection, post_state, backwards_plan):
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

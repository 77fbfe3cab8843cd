"""The exact backwards plan: the request read, the rows after the cutoff classified (orphans, squash
bookkeeping), mapped onto Django's graph and ordered, noop-reverse applied, and cut into segments."""
import json
import sys

from django.db.migrations.operations.special import RunPython, RunSQL
from django.db.migrations.recorder import MigrationRecorder


def read_request():
    request = json.loads(sys.stdin.read())
    if request.get("version") != 1:
        raise ValueError("unsupported request version %r" % (request.get("version"),))
    return request


def unique_keys(rows):
    """The rows of S as (app, name), in order, once each (a set beside the list: S can be large)."""
    keys, seen = [], set()
    for row in rows:
        key = (row["app"], row["name"])
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


class HistoryReadOnce(object):
    """While planning, every MigrationRecorder.applied_migrations() (the loader's, each checked command's
    fresh executor's, ours) returns a copy of one read: a full read of django_migrations costs about 0.35 s
    per 100,000 rows, and planning made one per app. Put back before anything is unapplied, so the run
    reads the table as it is then."""

    def __enter__(self):
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
        MigrationRecorder.applied_migrations = self.original
        return False


def classify_rows(run, loader, s_keys, recorded):
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


def plan_nodes(run, graph, exact, replaced_by):
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


def defer_non_atomic(plan, graph):
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


def irreversible_operations(operation):
    """The operations that cannot run backwards, looking inside SeparateDatabaseAndState, whose own
    `reversible` says True even when a database operation in it has no reverse."""
    inner = getattr(operation, "database_operations", None)
    if inner is not None:
        found = []
        for nested in inner:
            found.extend(irreversible_operations(nested))
        return found
    return [] if getattr(operation, "reversible", True) else [operation]


def irreversible_operations_of(migration):
    found = []
    for operation in migration.operations:
        found.extend(irreversible_operations(operation))
    return found


def apply_noop_reverse(run, plan, names, loader, recorded):
    """noop-reverse: the named migrations' irreversible RunPython/RunSQL become no-ops when unapplied.
    Returns the ids of the top-level operations changed, for the report."""
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
            for target in irreversible_operations(operation):
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


def segments(plan, connection):
    """Consecutive atomic migrations share one transaction; a non-atomic one runs alone."""
    found = []
    transactional = connection.features.can_rollback_ddl
    for migration in plan:
        atomic = bool(migration.atomic and transactional)
        if atomic and found and found[-1][0]:
            found[-1][1].append(migration)
        else:
            found.append((atomic, [migration]))
    return found

"""The plan checked into the report: conflicting leaves, irreversible steps, migrations Django does not
consider applied, and migrations applied before the cutoff that depend on the plan."""
from django.core.management.commands.migrate import Command as MigrateCommand

from _dmr_rollback_plan import irreversible_operations


def check_conflicts(run, loader):
    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join("%s in %s" % (", ".join(sorted(v)), k) for k, v in sorted(conflicts.items()))
        run.problem("conflict", None,
                    "Conflicting migrations detected; multiple leaf nodes in the migration graph: (%s). "
                    "Django's migrate refuses to run; fix the code (makemigrations --merge) before rolling back."
                    % names, True)


def _describe_operations(migration, skipped):
    ops = []
    for operation in migration.operations:
        text, _ = MigrateCommand.describe_operation(operation, True)
        op = {"description": text, "irreversible": bool(irreversible_operations(operation))}
        if id(operation) in skipped:
            op["skipped"] = True
        ops.append(op)
    return ops


def check_plan(run, plan, graph, plan_nodes, applied_nodes, allow_irreversible, skipped):
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

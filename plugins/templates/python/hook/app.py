"""The `{{name}}` lifecycle hook: tells the service's log about each phase it is called for,
and hands the started process one variable.

Settings (an entry `{ plugin = "{{name}}", ... }` in a service's or the platform's hooks):
    phases = ["before-start", "after-stop"]   # optional, the default
    variable = "STARTED_BY_HOOK"              # optional: set to "{{name}}" at before-start

A blocking phase (`before-start`, `before-stop`, `before-restart`, `on-unhealthy`) waits for the
verdict `run` returns: proceed, veto, skip, delay or suppress.
"""
from wit_world import exports
from wit_world.exports import lifecycle, plugin
from wit_world.imports import host, types

NAME = "{{name}}"
KNOWN = ("phases", "variable")
PHASES = {phase.name.lower().replace("_", "-"): phase for phase in lifecycle.Phase}


def read(settings):
    """The settings as (phases, variable), or every problem found, each tied to its key."""
    values = dict(settings)
    problems = [types.Problem(key, f'unknown setting "{key}"') for key in values if key not in KNOWN]
    phases = [lifecycle.Phase.BEFORE_START, lifecycle.Phase.AFTER_STOP]
    if "phases" in values:
        given = values["phases"]
        names = [s.value for s in given.value if isinstance(s, types.Scalar_Text)] if isinstance(given, types.Value_Array) else None
        if names is None or len(names) != len(given.value):
            problems.append(types.Problem("phases", "expected an array of phase names"))
        else:
            unknown = [n for n in names if n not in PHASES]
            if unknown:
                problems.append(types.Problem("phases", f"unknown phase {unknown[0]!r}; one of: {', '.join(PHASES)}"))
            phases = [PHASES[n] for n in names if n in PHASES]
    variable = values.get("variable", types.Value_Text("STARTED_BY_HOOK"))
    if not isinstance(variable, types.Value_Text) or not variable.value:
        problems.append(types.Problem("variable", "expected a variable name"))
    if problems:
        return None, problems
    return (phases, variable.value), []


class Plugin(exports.Plugin):
    def describe(self):
        return plugin.PluginInfo(NAME, "0.1.0", "Logs each phase and sets a variable at start")


class Lifecycle(exports.Lifecycle):
    def validate(self, settings):
        return read(settings)[1]

    def needs(self, settings):
        return []

    def phases(self, settings):
        found, _ = read(settings)
        return found[0] if found else []

    def run(self, service, event, settings):
        found, _ = read(settings)
        phase = event.phase.name.lower().replace("_", "-")
        host.log(host.Level.INFO, f"{NAME}: {phase} of {service.name} ({event.reason})")
        env = [(found[1], NAME)] if found and event.phase == lifecycle.Phase.BEFORE_START else []
        return lifecycle.Decision(lifecycle.Verdict_Proceed(), env)

"""The `{{name}}` deployment mode: runs `program` with `args`, supervised by Keel itself.

Settings (the table under `[services.NAME.deployment.{{name}}]`):
    program = "/usr/bin/python3"        # required: absolute, or relative to services.toml
    args = ["-m", "http.server", "8080"]  # optional

A mode either hands Keel a process to spawn, watch and stop (`start` returns a launch spec, as
here), or runs the workload itself and returns a handle that Keel saves and passes back to
`status`, `stop` and `recover` (a container, a remote service).
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import deployment, plugin
from wit_world.imports import host, types

NAME = "{{name}}"
KNOWN = ("program", "args")


def read(settings):
    """The settings as (program, args), or every problem found, each tied to its key."""
    values = dict(settings)
    problems = [types.Problem(key, f'unknown setting "{key}"') for key in values if key not in KNOWN]
    program = values.get("program")
    if not isinstance(program, types.Value_Text) or not program.value:
        problems.append(types.Problem("program", "expected the program's path as text"))
    args = values.get("args", types.Value_Array([]))
    if not isinstance(args, types.Value_Array) or not all(isinstance(a, types.Scalar_Text) for a in args.value):
        problems.append(types.Problem("args", "expected an array of text"))
    if problems:
        return None, problems
    return (program.value, [a.value for a in args.value]), []


def problems_text(problems):
    return "invalid settings: " + "; ".join(f"{p.key}: {p.message}" for p in problems)


class Plugin(exports.Plugin):
    def describe(self):
        return plugin.PluginInfo(NAME, "0.1.0", "Runs a program, supervised by Keel")


class Deployment(exports.Deployment):
    def validate(self, settings):
        return read(settings)[1]

    def needs(self, settings):
        found, _ = read(settings)
        return [types.Capability_Path(found[0])] if found else []

    def preflight(self, service, settings):
        found, problems = read(settings)
        if problems:
            return [deployment.Finding(False, problems_text(problems))]
        program = found[0]
        try:
            info = host.stat_path(program)
        except Err as e:
            return [deployment.Finding(False, f"cannot look at {program}: {e.value}")]
        if info is None:
            return [deployment.Finding(False, f"{program} not found")]
        if not (info.is_file and info.executable):
            return [deployment.Finding(False, f"{program} is not an executable file")]
        return [deployment.Finding(True, f"program found: {program}")]

    def start(self, service, settings):
        found, problems = read(settings)
        if problems:
            raise Err(problems_text(problems))
        program, args = found
        return deployment.Started_Launch(deployment.LaunchSpec(program, args, [], None, None, None))

    def status(self, service, settings, handle):
        raise Err("this mode hands Keel a process to supervise; it keeps no handle")

    def stop(self, service, settings, handle, grace_ms):
        raise Err("this mode hands Keel a process to supervise; it keeps no handle")

    def recover(self, service, settings, handle):
        return None

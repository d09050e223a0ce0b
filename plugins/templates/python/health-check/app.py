"""The `{{name}}` health check: healthy when a TCP connection to `host:port` opens.

Settings (the table under `[services.NAME.health_check.{{name}}]`):
    host = "localhost"   # optional
    port = 6379          # required

Keel calls `validate` and `needs` before anything starts, and `check` every interval. Edit
`check` to ask the service something instead; `host.tcp_probe` is one of the host functions in
wit/keel-plugin.wit, each allowed only as far as the operator's grant goes.
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import health_check, plugin
from wit_world.imports import host, types

NAME = "{{name}}"
KNOWN = ("host", "port")


def read(settings):
    """The settings as (host, port), or every problem found, each tied to its key."""
    values = dict(settings)
    problems = [types.Problem(key, f'unknown setting "{key}"') for key in values if key not in KNOWN]
    name = values.get("host", types.Value_Text("localhost"))
    if not isinstance(name, types.Value_Text) or not name.value:
        problems.append(types.Problem("host", "expected a host name or IP address"))
    port = values.get("port")
    if port is None:
        problems.append(types.Problem("port", "missing; expected an integer from 1 to 65535"))
    elif not isinstance(port, types.Value_Integer) or not 1 <= port.value <= 65535:
        problems.append(types.Problem("port", "expected an integer from 1 to 65535"))
    if problems:
        return None, problems
    return (name.value, port.value), []


class Plugin(exports.Plugin):
    def describe(self):
        return plugin.PluginInfo(NAME, "0.1.0", "Healthy when a TCP connection to host:port opens")


class HealthCheck(exports.HealthCheck):
    def validate(self, settings):
        return read(settings)[1]

    def needs(self, settings):
        target, _ = read(settings)
        return [types.Capability_Network(f"{target[0]}:{target[1]}")] if target else []

    def check(self, service, settings, timeout_ms):
        target, problems = read(settings)
        if problems:
            why = "; ".join(f"{p.key}: {p.message}" for p in problems)
            return health_check.CheckResult(False, f"invalid settings: {why}")
        address = f"{target[0]}:{target[1]}"
        try:
            host.tcp_probe(target[0], target[1], timeout_ms)
        except Err as e:
            return health_check.CheckResult(False, f"TCP connection to {address} failed: {reason(e.value)}")
        return health_check.CheckResult(True, f"TCP connection to {address} succeeded")


def reason(error):
    if isinstance(error, host.HostError_TimedOut):
        return "timed out"
    if isinstance(error, host.HostError_Denied):
        return f"denied: {error.value}"
    return error.value

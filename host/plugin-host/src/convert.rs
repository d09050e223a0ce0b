//! Conversions from the generated 0.1 export types to the crate's public types.

use crate::bindings::v0_1::deployment::exports::keel::plugin::deployment as wit_deployment;
use crate::bindings::v0_1::hook::exports::keel::plugin::hook as wit_hook;
use crate::bindings::v0_1::lifecycle::exports::keel::plugin::lifecycle as wit_lifecycle;
use crate::bindings::v0_1::wit_types;
use crate::lifecycle::{Decision, ExitStatus, HookCause, HookEvent, HookPhase, Verdict};
use crate::types::{LaunchSpec, Problem, Started, WorkloadState};

pub(crate) fn problems(list: Vec<wit_types::Problem>) -> Vec<Problem> {
    list.into_iter()
        .map(|p| Problem {
            key: p.key,
            message: p.message,
        })
        .collect()
}

pub(crate) fn started(s: wit_deployment::Started) -> Started {
    match s {
        wit_deployment::Started::Handle(h) => Started::Handle(h),
        wit_deployment::Started::Launch(l) => Started::Launch(LaunchSpec {
            program: l.program,
            args: l.args,
            env: l.env,
            working_dir: l.working_dir,
            stop_signal: l.stop_signal,
            stop_command: l.stop_command,
        }),
    }
}

pub(crate) fn workload_state(s: wit_deployment::WorkloadState) -> WorkloadState {
    match s {
        wit_deployment::WorkloadState::Running => WorkloadState::Running,
        wit_deployment::WorkloadState::Starting => WorkloadState::Starting,
        wit_deployment::WorkloadState::Stopped => WorkloadState::Stopped,
        wit_deployment::WorkloadState::Failed => WorkloadState::Failed,
        wit_deployment::WorkloadState::Unknown => WorkloadState::Unknown,
    }
}

/// The 0.1.0 `hook` interface's event for a phase, when it has one.
pub(crate) fn legacy_event(phase: HookPhase) -> Option<wit_hook::Event> {
    Some(match phase {
        HookPhase::BeforeStart => wit_hook::Event::BeforeStart,
        HookPhase::AfterStart => wit_hook::Event::AfterStart,
        HookPhase::BeforeStop => wit_hook::Event::BeforeStop,
        HookPhase::AfterStop => wit_hook::Event::AfterStop,
        HookPhase::OnFailed => wit_hook::Event::OnFailure,
        HookPhase::OnHealthy => wit_hook::Event::OnHealthy,
        HookPhase::OnUnhealthy => wit_hook::Event::OnUnhealthy,
        HookPhase::OnCheck | HookPhase::BeforeRestart => return None,
    })
}

pub(crate) fn phase_to_wit(p: HookPhase) -> wit_lifecycle::Phase {
    use wit_lifecycle::Phase as W;
    match p {
        HookPhase::BeforeStart => W::BeforeStart,
        HookPhase::AfterStart => W::AfterStart,
        HookPhase::OnHealthy => W::OnHealthy,
        HookPhase::OnCheck => W::OnCheck,
        HookPhase::BeforeStop => W::BeforeStop,
        HookPhase::AfterStop => W::AfterStop,
        HookPhase::BeforeRestart => W::BeforeRestart,
        HookPhase::OnUnhealthy => W::OnUnhealthy,
        HookPhase::OnFailed => W::OnFailed,
    }
}

pub(crate) fn phase_from_wit(p: wit_lifecycle::Phase) -> HookPhase {
    use wit_lifecycle::Phase as W;
    match p {
        W::BeforeStart => HookPhase::BeforeStart,
        W::AfterStart => HookPhase::AfterStart,
        W::OnHealthy => HookPhase::OnHealthy,
        W::OnCheck => HookPhase::OnCheck,
        W::BeforeStop => HookPhase::BeforeStop,
        W::AfterStop => HookPhase::AfterStop,
        W::BeforeRestart => HookPhase::BeforeRestart,
        W::OnUnhealthy => HookPhase::OnUnhealthy,
        W::OnFailed => HookPhase::OnFailed,
    }
}

fn cause_to_wit(c: HookCause) -> wit_lifecycle::Cause {
    use wit_lifecycle::Cause as W;
    match c {
        HookCause::Operator => W::Operator,
        HookCause::Dependency => W::Dependency,
        HookCause::AutoStart => W::AutoStart,
        HookCause::RestartPolicy => W::RestartPolicy,
        HookCause::Health => W::Health,
        HookCause::Shutdown => W::Shutdown,
        HookCause::Timeout => W::Timeout,
        HookCause::Recovery => W::Recovery,
    }
}

pub(crate) fn event_to_wit(e: &HookEvent) -> wit_lifecycle::Event {
    wit_lifecycle::Event {
        phase: phase_to_wit(e.phase),
        cause: cause_to_wit(e.cause),
        time_ms: e.time_ms,
        pid: e.pid,
        handle: e.handle.clone(),
        attempt: e.attempt,
        restarts: e.restarts,
        last_exit: e.last_exit.as_ref().map(|x| match x {
            ExitStatus::Code(c) => wit_lifecycle::ExitStatus::Code(*c),
            ExitStatus::Signal(s) => wit_lifecycle::ExitStatus::Signal(s.clone()),
            ExitStatus::Unknown => wit_lifecycle::ExitStatus::Unknown,
        }),
        uptime_ms: e.uptime_ms,
        health_message: e.health_message.clone(),
        consecutive_failures: e.consecutive_failures,
        endpoints: e.endpoints.clone(),
        reason: e.reason.clone(),
    }
}

pub(crate) fn decision_from_wit(d: wit_lifecycle::Decision) -> Decision {
    use wit_lifecycle::Verdict as W;
    Decision {
        verdict: match d.verdict {
            W::Proceed => Verdict::Proceed,
            W::Veto(r) => Verdict::Veto(r),
            W::Skip(r) => Verdict::Skip(r),
            W::Delay(ms) => Verdict::Delay(std::time::Duration::from_millis(ms.into())),
            W::Suppress(r) => Verdict::Suppress(r),
        },
        env: d.env,
    }
}

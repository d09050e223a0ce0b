//! Conversions from the generated 0.1 export types to the crate's public types.

use crate::bindings::v0_1::deployment::exports::keel::plugin::deployment as wit_deployment;
use crate::bindings::v0_1::hook::exports::keel::plugin::hook as wit_hook;
use crate::bindings::v0_1::wit_types;
use crate::types::{HookEvent, LaunchSpec, Problem, Started, WorkloadState};

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

pub(crate) fn hook_event(e: HookEvent) -> wit_hook::Event {
    match e {
        HookEvent::BeforeStart => wit_hook::Event::BeforeStart,
        HookEvent::AfterStart => wit_hook::Event::AfterStart,
        HookEvent::BeforeStop => wit_hook::Event::BeforeStop,
        HookEvent::AfterStop => wit_hook::Event::AfterStop,
        HookEvent::OnFailure => wit_hook::Event::OnFailure,
        HookEvent::OnHealthy => wit_hook::Event::OnHealthy,
        HookEvent::OnUnhealthy => wit_hook::Event::OnUnhealthy,
    }
}

//! Server functions every job page shares: cancel and resume, with each kind's rule for who
//! may (training runs and imports: admins; evaluations and inspections: their owner or an
//! admin).

use leptos::prelude::*;

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, owns_or_admin, require_user, state};
#[cfg(feature = "ssr")]
use store::{Access, JobKind};

/// What to do with a job.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Cancel,
    Resume,
}

/// Cancels or resumes job `id` when it is of `kind` (any kind when None) and the signed-in
/// user may manage it.
#[cfg(feature = "ssr")]
pub async fn control(id: i64, kind: Option<JobKind>, what: Control) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let job = crate::ssr::job_of(&st, id, kind, "such job").await?;
    let allowed = match job.kind {
        JobKind::Train | JobKind::Import => me.role == store::Role::Admin,
        JobKind::Eval | JobKind::Inspect | JobKind::DraftQa => owns_or_admin(&me, &job.owner),
    };
    if !allowed {
        return Err(fail(ApiError::Forbidden(format!(
            "only {} may {} this {} job",
            match job.kind {
                JobKind::Train | JobKind::Import => "an admin",
                _ => "its owner or an admin",
            },
            match what {
                Control::Cancel => "cancel",
                Control::Resume => "resume",
            },
            job.kind
        ))));
    }
    match what {
        Control::Cancel => crate::ssr::cancel_job(&st, id).await,
        Control::Resume => crate::ssr::resume_job(&st, id).await,
    }
}

/// Asks a queued or running job to stop (it keeps its checkpoint or stored predictions).
#[server(prefix = "/api", endpoint = "jobs/cancel")]
pub async fn cancel_job(id: i64) -> Result<(), ApiError> {
    control(id, None, Control::Cancel).await
}

/// Queues a failed or cancelled job again; it resumes where it stopped.
#[server(prefix = "/api", endpoint = "jobs/resume")]
pub async fn resume_job(id: i64) -> Result<(), ApiError> {
    control(id, None, Control::Resume).await
}

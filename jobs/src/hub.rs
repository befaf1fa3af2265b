//! What connects request handlers to the job lanes: live events for pages that follow a job,
//! and a wake-up call when a job is queued.

/// One progress event of a job (a [`store::JobEvent`] as JSON), as broadcast to live pages.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub job: i64,
    /// Its sequence number in `job_events` (0 for the end-of-job notice, which is not stored).
    pub seq: i64,
    pub data: String,
}

/// The lanes' event feed and wake-up call.
#[derive(Clone, Debug)]
pub struct JobHub {
    pub events: tokio::sync::broadcast::Sender<LiveEvent>,
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for JobHub {
    fn default() -> Self {
        JobHub {
            events: tokio::sync::broadcast::channel(256).0,
            wake: Default::default(),
        }
    }
}

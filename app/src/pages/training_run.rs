use std::collections::BTreeMap;

use leptos::prelude::*;
use store::{JobEvent, JobState, TrainStep};

use super::job::{JobActions, JobControls, JobPage};
use crate::api::training::{training_run, TrainRunDetail};

/// One point of the curves: a training step.
pub type Point = TrainStep;

/// Applies one event to the points by step; returns the end state when it is the end.
fn apply(points: &mut BTreeMap<usize, Point>, event: JobEvent) -> Option<JobState> {
    match event {
        JobEvent::Step(p) => {
            points.insert(p.step, p);
            None
        }
        // Training restarted from the checkpoint after `step`: later points are redone.
        JobEvent::Resumed { step } => {
            points.retain(|&s, _| s <= step);
            None
        }
        JobEvent::End { state, .. } => Some(state),
        _ => None,
    }
}

/// A run: configuration, live loss and learning-rate curves, progress with ETA, and (for
/// admins) cancel and resume.
#[component]
pub fn TrainingRunPage() -> impl IntoView {
    view! { <JobPage fetch=training_run body=|detail, controls| view! { <RunView detail controls/> }.into_any()/> }
}

#[component]
fn RunView(detail: TrainRunDetail, controls: JobControls) -> impl IntoView {
    let id = detail.run.job.id;
    let mut initial = BTreeMap::new();
    for (_, e) in &detail.events {
        if let Some(e) = JobEvent::from_json(e) {
            apply(&mut initial, e);
        }
    }
    let last_seq = detail.events.last().map(|(s, _)| *s).unwrap_or(0);
    let points = RwSignal::new(initial);
    let state = RwSignal::new(detail.run.job.state);
    if state.get_untracked().is_live() {
        follow(id, last_seq, points, state, controls);
    }
    let last = move || points.with(|p| p.values().last().cloned());
    let manage = detail.can_manage;
    let run = detail.run.clone();
    view! {
        <h1>{format!("Training run #{id}")}</h1>
        <p>
            {format!("{} on {} / {}, {} epochs", run.base_model, run.dataset, run.split, run.epochs)}
            {run.model.clone().map(|m| view! { " → model " <strong id="run-model">{m}</strong> })}
        </p>
        <p class="muted" id="job-device">{format!("device {}", run.ran_on.clone().unwrap_or(run.device.clone()))}</p>
        <div class="progress" id="run-progress" data-state=move || state.get().as_str()>
            {move || {
                let p = last();
                let pct = p.as_ref().map(|p| 100.0 * p.step as f64 / p.total_steps.max(1) as f64).unwrap_or(0.0);
                let text = match &p {
                    Some(p) => format!(
                        "{} · step {}/{} · epoch {}/{} · loss {:.4} · {:.0} tok/s · ETA {}",
                        state.get(), p.step, p.total_steps, p.epoch, p.epochs, p.loss, p.tokens_per_s,
                        if state.get() == JobState::Running { eta(p.eta_s) } else { "–".into() }
                    ),
                    None => state.get().to_string(),
                };
                view! { <progress max="100" value=pct.round()></progress> <span>{text}</span> }
            }}
        </div>
        {run.job.error.clone().map(|e| view! { <p class="error" role="alert" id="run-error">{e}</p> })}
        {manage.then(|| view! {
            <JobActions id state controls prefix="run" resume_label="Resume from the last checkpoint"/>
        })}
        <div class="charts">
            {move || {
                let pts = points.get();
                let total = pts.values().last().map(|p| p.total_steps).unwrap_or(1);
                let loss: Vec<(f64, f64)> = pts.values().map(|p| (p.step as f64, p.loss)).collect();
                let lr: Vec<(f64, f64)> = pts.values().map(|p| (p.step as f64, p.lr)).collect();
                view! {
                    <Curve id="loss-curve" title="Loss (answer tokens)" points=loss total=total as f64/>
                    <Curve id="lr-curve" title="Learning rate" points=lr total=total as f64/>
                }
            }}
        </div>
        <details>
            <summary>"Configuration"</summary>
            <pre id="run-config">{detail.config_toml.clone()}</pre>
        </details>
    }
}

fn eta(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}

/// A line chart in SVG: x is the step (0..total), y spans the values' range.
#[component]
fn Curve(
    id: &'static str,
    title: &'static str,
    points: Vec<(f64, f64)>,
    total: f64,
) -> impl IntoView {
    const W: f64 = 560.0;
    const H: f64 = 180.0;
    const PAD: f64 = 56.0;
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, v)| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let x = move |s: f64| PAD + (W - PAD - 8.0) * s / total.max(1.0);
    let y = move |v: f64| 8.0 + (H - 32.0) * (1.0 - (v - lo) / (hi - lo));
    let line = points
        .iter()
        .map(|&(s, v)| format!("{:.1},{:.1}", x(s), y(v)))
        .collect::<Vec<_>>()
        .join(" ");
    let n = points.len();
    let fmt = |v: f64| {
        if v != 0.0 && v.abs() < 1e-2 {
            format!("{v:.1e}")
        } else {
            format!("{v:.3}")
        }
    };
    view! {
        <figure class="chart">
            <figcaption>{title}</figcaption>
            // Presentation attributes inline: the stylesheet has no chart rules, and without a
            // stroke the curve was drawn invisible.
            <svg id=id data-points=n viewBox=format!("0 0 {W} {H}") width=W height=H role="img" aria-label=title
                font-family="sans-serif" font-size="11" fill="#475569">
                <line x1=PAD y1=H - 24.0 x2=W - 8.0 y2=H - 24.0 class="axis" stroke="#94a3b8"/>
                <line x1=PAD y1="8" x2=PAD y2=H - 24.0 class="axis" stroke="#94a3b8"/>
                <text x=PAD - 4.0 y="14" text-anchor="end" class="tick">{fmt(hi)}</text>
                <text x=PAD - 4.0 y=H - 24.0 text-anchor="end" class="tick">{fmt(lo)}</text>
                <text x=W - 8.0 y=H - 8.0 text-anchor="end" class="tick">{format!("step {total}")}</text>
                <text x=PAD y=H - 8.0 class="tick">"0"</text>
                <polyline points=line class="series" fill="none" stroke="#2563eb" stroke-width="2"/>
            </svg>
        </figure>
    }
}

/// Follows the run's server-sent events in the browser: new points extend the curves; the end
/// notice refreshes the page's data.
fn follow(
    id: i64,
    after: i64,
    points: RwSignal<BTreeMap<usize, Point>>,
    state: RwSignal<JobState>,
    controls: JobControls,
) {
    crate::live::follow_job(id, after, move |event| {
        if matches!(event, JobEvent::Step(_)) {
            state.set(JobState::Running);
        }
        let mut end = None;
        points.update(|p| end = apply(p, event));
        if let Some(s) = end {
            state.set(s);
            controls.job_ended();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_build_the_curve_and_a_resume_redraws_it() {
        let mut pts = BTreeMap::new();
        let p = |step: usize, loss: f64| {
            format!(
                r#"{{"kind":"progress","step":{step},"total_steps":4,"epoch":1,"epochs":2,"loss":{loss},"lr":0.0001,"grad_norm":1.0,"tokens_per_s":10.0,"eta_s":3.0}}"#
            )
        };
        // The events as the server stores them, read back the way the page reads them.
        let ev = |json: &str| JobEvent::from_json(json).expect(json);
        for (s, l) in [(1, 2.0), (2, 1.5), (3, 1.2)] {
            assert_eq!(apply(&mut pts, ev(&p(s, l))), None);
        }
        apply(&mut pts, ev(r#"{"kind":"checkpoint","dir":"x"}"#));
        apply(&mut pts, ev(r#"{"kind":"resumed","step":2}"#));
        assert_eq!(pts.keys().copied().collect::<Vec<_>>(), [1, 2]);
        apply(&mut pts, ev(&p(3, 1.1)));
        assert_eq!(pts[&3].loss, 1.1);
        assert_eq!(
            apply(&mut pts, ev(r#"{"kind":"end","state":"succeeded"}"#)),
            Some(JobState::Succeeded)
        );
    }
}

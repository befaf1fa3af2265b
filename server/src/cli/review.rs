//! `vlm-inspect review export|summary|share|unshare|plan`: a run's review from the command line;
//! `review drafts|decide`: a drafting job's drafts and decisions on them.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use review::{QueueOrder, QueuePlan, RunReview};

use crate::data_dir::DataDir;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Write a run's judgements, one row each (item, reviewer, every field, times).
    Export {
        #[arg(long)]
        run: i64,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Default: from --out's extension (.json is JSON), else CSV.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print what a run's judgements measure: human-judged accuracy per prompt, agreement
    /// between reviewers, and BERTScore against the human scores.
    Summary {
        #[arg(long)]
        run: i64,
        /// As JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Share a run's review queue, or a drafting job's drafts (`--job`), with a user.
    Share {
        #[arg(long, visible_alias = "job")]
        run: i64,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Take a share back (the user's judgements and decisions stay).
    Unshare {
        #[arg(long, visible_alias = "job")]
        run: i64,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List a drafting job's drafts: id, version, status, image, the draft and what was decided.
    Drafts {
        #[arg(long)]
        job: i64,
        /// As JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Decide on a draft as user USER: accept it, edit it, reject it, or write one's own answer.
    Decide {
        #[arg(long)]
        draft: i64,
        /// The version the decision is made from (as `review drafts` lists it): a decision
        /// made meanwhile by someone else refuses this one.
        #[arg(long)]
        version: i64,
        /// Who decides (a member, an admin, or a reviewer the job is shared with).
        #[arg(long = "as", value_name = "USER")]
        user: String,
        #[arg(long, group = "decision")]
        accept: bool,
        /// The corrected answer.
        #[arg(long, group = "decision", value_name = "TEXT")]
        edit: Option<String>,
        /// Why the draft is not taken.
        #[arg(long, group = "decision", value_name = "REASON")]
        reject: Option<String>,
        /// One's own answer instead of the draft.
        #[arg(long, group = "decision", value_name = "TEXT")]
        manual: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Set how a run is reviewed.
    Plan {
        #[arg(long)]
        run: i64,
        /// Judgements every item needs (1-5).
        #[arg(long, default_value_t = 1)]
        judgements: u32,
        /// Percent of items given one more, blind judgement.
        #[arg(long, default_value_t = 20.0)]
        overlap_percent: f64,
        /// wrong_first, uncertain_first or random.
        #[arg(long, default_value = "wrong_first")]
        order: String,
        /// Seed of the overlap and the order (default: the run's id).
        #[arg(long)]
        seed: Option<u64>,
        /// Every reviewer may review, not only those shared with.
        #[arg(long)]
        open_to_all: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(cmd: ReviewCommand) -> anyhow::Result<()> {
    match cmd {
        ReviewCommand::Export {
            run,
            out,
            format,
            data,
        } => {
            let store = data.open().await?;
            let rows = store.review_export(run).await;
            store.close().await;
            let rows = rows?;
            let json = matches!(format, Some(ExportFormat::Json))
                || (format.is_none()
                    && out
                        .as_ref()
                        .and_then(|p| p.extension())
                        .is_some_and(|e| e.eq_ignore_ascii_case("json")));
            let text = if json {
                serde_json::to_string_pretty(&rows)? + "\n"
            } else {
                jobs::review::export_csv(&rows)
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("{} judgement(s) written to {}", rows.len(), path.display());
                }
                None => print!("{text}"),
            }
        }
        ReviewCommand::Summary { run, json, data } => {
            let store = data.open().await?;
            let review = store.run_review(run).await;
            store.close().await;
            let review = review?;
            if json {
                println!("{}", serde_json::to_string_pretty(&review)?);
            } else {
                print!("{}", summary_text(&review));
            }
        }
        ReviewCommand::Share { run, user, data } => {
            let store = data.open().await?;
            let r = store.share_review(run, &user).await;
            store.close().await;
            r?;
            println!("job {run}'s review queue is shared with {user}");
        }
        ReviewCommand::Unshare { run, user, data } => {
            let store = data.open().await?;
            let r = store.unshare_review(run, &user).await;
            store.close().await;
            if !r? {
                bail!("job {run}'s review queue was not shared with {user}");
            }
            println!("job {run}'s review queue is no longer shared with {user}");
        }
        ReviewCommand::Drafts { job, json, data } => {
            let store = data.open().await?;
            let drafts = store.drafts(job).await;
            store.close().await;
            let drafts = drafts?;
            if json {
                println!("{}", serde_json::to_string_pretty(&drafts)?);
            } else {
                println!("draft\tversion\tstatus\timage\tdraft\tdecided");
                for d in &drafts {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        d.id,
                        d.version,
                        d.status,
                        d.rel_path,
                        d.draft.replace(['\t', '\n'], " "),
                        d.answer
                            .as_deref()
                            .or(d.reason.as_deref())
                            .unwrap_or("")
                            .replace(['\t', '\n'], " ")
                    );
                }
            }
        }
        ReviewCommand::Decide {
            draft,
            version,
            user,
            accept,
            edit,
            reject,
            manual,
            data,
        } => {
            let decision = match (accept, edit, reject, manual) {
                (true, None, None, None) => store::DraftDecision::Accept,
                (false, Some(answer), None, None) => store::DraftDecision::Edit { answer },
                (false, None, Some(reason), None) => store::DraftDecision::Reject { reason },
                (false, None, None, Some(answer)) => store::DraftDecision::Manual { answer },
                _ => bail!("give one of --accept, --edit TEXT, --reject REASON, --manual TEXT"),
            };
            let store = data.open().await?;
            let who = store.user(&user).await;
            let saved = match who {
                Ok(who) => store.decide_draft(&who, draft, version, decision).await,
                Err(e) => Err(e),
            };
            store.close().await;
            let saved = saved?;
            println!(
                "draft {draft}: {} by {user} (now version {}){}",
                saved.status,
                saved.version,
                saved
                    .qa_id
                    .map(|q| format!("; QA annotation {q}"))
                    .unwrap_or_default()
            );
        }
        ReviewCommand::Plan {
            run,
            judgements,
            overlap_percent,
            order,
            seed,
            open_to_all,
            data,
        } => {
            let order: QueueOrder = order.parse()?;
            let plan = QueuePlan {
                judgements,
                overlap: overlap_percent / 100.0,
                order,
                seed: seed.unwrap_or(run as u64),
            };
            let store = data.open().await?;
            let r = store.set_review_plan(run, plan, open_to_all).await;
            store.close().await;
            r?;
            println!(
                "run {run}: {judgements} judgement(s) per item, {overlap_percent}% doubled blind, order {order}{}",
                if open_to_all { ", open to every reviewer" } else { "" }
            );
        }
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{:.1}", 100.0 * x))
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

/// The summary as a small text table.
pub fn summary_text(r: &RunReview) -> String {
    let mut s = String::from(
        "prompt\titems\tjudgements\tverdict-acc\texpl-correct\texpl-correct+partly\tmean-score\tlabel-flags\n",
    );
    let mut rows: Vec<(&str, &review::HumanScores)> =
        r.per_prompt.iter().map(|(p, h)| (p.as_str(), h)).collect();
    rows.push(("all", &r.overall));
    for (p, h) in rows {
        s += &format!(
            "{p}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            h.items,
            h.judgements,
            pct(h.verdict_accuracy),
            pct(h.explanation_correct),
            pct(h.explanation_correct_or_partly),
            h.mean_score.map_or("n/a".into(), |x| format!("{x:.2}")),
            h.label_flags
        );
    }
    let a = &r.agreement;
    s += &format!(
        "agreement on {} item(s) judged more than once by {} reviewer(s): kappa verdict {}, explanation {}; alpha verdict {}, explanation {}, score (ordinal) {}\n",
        a.items,
        a.reviewers,
        num(a.kappa_verdict),
        num(a.kappa_explanation),
        num(a.alpha_verdict),
        num(a.alpha_explanation),
        num(a.alpha_score)
    );
    s += &format!(
        "BERTScore F1 vs human score over {} item(s): Spearman rho {}, Kendall tau-b {}\n",
        r.metric.n,
        num(r.metric.spearman),
        num(r.metric.kendall)
    );
    s
}

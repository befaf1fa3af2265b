use crate::sql;
use anomaly::evaluation::EvalConfig;
use review::{ExplanationCall, Judgement, QueueOrder, QueuePlan, ReviewTag, Score, VerdictCall};

use crate::evaluations::NewPrediction;
use crate::job_protocol::JobConfig;
use crate::records::{JobKind, Role, UserInfo};
use crate::review_records::ItemKey;
use crate::testing::Fixture;
use crate::{JobOwner, JudgementsSeen, Store, StoreError};

struct Team {
    f: Fixture,
    ada: UserInfo,
    mel: UserInfo,
    rex: UserInfo,
    rio: UserInfo,
    run: i64,
    /// The run's items: every test image of the fixture with prompt P1.
    items: Vec<ItemKey>,
}

async fn team() -> Team {
    let f = Fixture::new().await;
    let s = &f.store;
    let ada = s
        .create_user("ada", "password1", Role::Admin)
        .await
        .unwrap();
    let mel = s
        .create_user("mel", "password1", Role::Member)
        .await
        .unwrap();
    let rex = s
        .create_user("rex", "password1", Role::Reviewer)
        .await
        .unwrap();
    let rio = s
        .create_user("rio", "password1", Role::Reviewer)
        .await
        .unwrap();
    let cfg = EvalConfig::new("tiny-llava", "tiny", "s", &["P1"]);
    let run = s
        .create_job(
            JobKind::Eval,
            &JobConfig::encode(&cfg),
            JobOwner::User(mel.id),
        )
        .await
        .unwrap();
    let images: Vec<(i64, String)> =
        sql::query_as("SELECT id, label FROM images WHERE split = 'test' ORDER BY id")
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(images.len(), 3);
    let mut items = Vec::new();
    for (id, label) in images {
        // The good image is judged right, the anomalies missed: two wrong verdicts.
        let _ = label;
        s.save_prediction(
            run,
            &NewPrediction {
                image_id: id,
                prompt: "P1",
                template_id: None,
                verdict: "normal",
                explanation: "It looks fine.",
                raw: "Normal. It looks fine.",
                prompt_tokens: 10,
                new_tokens: 5,
                latency_ms: 1,
                served: None,
            },
        )
        .await
        .unwrap();
        items.push(ItemKey {
            image_id: id,
            prompt: "P1".into(),
        });
    }
    Team {
        f,
        ada,
        mel,
        rex,
        rio,
        run,
        items,
    }
}

fn judgement(score: i64) -> Judgement {
    Judgement {
        verdict: VerdictCall::Wrong,
        explanation: ExplanationCall::Wrong,
        score: Score::try_from(score).unwrap(),
        tags: vec![ReviewTag::MissedDefect],
        comment: "the divider is broken".into(),
        fixed_explanation: None,
    }
}

fn store(t: &Team) -> &Store {
    &t.f.store
}

#[tokio::test]
async fn reviewers_see_only_shared_runs_and_their_images() {
    let t = team().await;
    let s = store(&t);
    for u in [&t.ada, &t.mel] {
        assert!(s.may_review(u, t.run).await.unwrap());
        assert!(s.may_see_image(u, t.items[0].image_id).await.unwrap());
    }
    assert!(!s.may_review(&t.rex, t.run).await.unwrap());
    assert!(!s.may_see_image(&t.rex, t.items[0].image_id).await.unwrap());
    let e = s
        .save_judgement(&t.rex, t.run, &t.items[0], judgement(2), None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e}");
    assert!(matches!(
        s.review_item(&t.rex, t.run, &t.items[0]).await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(s.reviewable_runs(&t.rex).await.unwrap().is_empty());

    s.share_review(t.run, "rex").await.unwrap();
    assert!(s.may_review(&t.rex, t.run).await.unwrap());
    assert!(!s.may_review(&t.rio, t.run).await.unwrap());
    assert!(s.may_see_image(&t.rex, t.items[0].image_id).await.unwrap());
    // A training image the run never showed stays hidden.
    let (train,): (i64,) = sql::query_as("SELECT id FROM images WHERE split = 'train' LIMIT 1")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(!s.may_see_image(&t.rex, train).await.unwrap());
    assert_eq!(s.reviewable_runs(&t.rex).await.unwrap(), [t.run]);
    assert_eq!(s.review_settings(t.run).await.unwrap().shared_with, ["rex"]);

    s.set_review_plan(t.run, QueuePlan::default(), true)
        .await
        .unwrap();
    assert!(s.may_review(&t.rio, t.run).await.unwrap());
    assert!(s.unshare_review(t.run, "rex").await.unwrap());
    assert!(s.may_review(&t.rex, t.run).await.unwrap(), "open to all");
    // Managing: the owner and admins, not another reviewer.
    assert!(s.may_manage_review(&t.mel, t.run).await.unwrap());
    assert!(s.may_manage_review(&t.ada, t.run).await.unwrap());
    assert!(!s.may_manage_review(&t.rex, t.run).await.unwrap());
    assert!(matches!(
        s.review_settings(t.run + 100).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_queue_offers_each_item_until_it_has_its_judgements() {
    let t = team().await;
    let s = store(&t);
    // Every item needs two: the second reviewer gets all three, blind.
    let plan = QueuePlan {
        judgements: 1,
        overlap: 1.0,
        order: QueueOrder::WrongFirst,
        seed: 1,
    };
    s.set_review_plan(t.run, plan, true).await.unwrap();
    let mut seen = Vec::new();
    let mut at = None;
    while let Some(k) = s
        .next_review_item(&t.rex, t.run, at.as_ref())
        .await
        .unwrap()
    {
        let item = s.review_item(&t.rex, t.run, &k).await.unwrap();
        assert_eq!((item.required, item.mine.is_some()), (2, false));
        s.save_judgement(&t.rex, t.run, &k, judgement(2), None)
            .await
            .unwrap();
        seen.push(k.clone());
        at = Some(k);
        assert!(seen.len() <= 3, "the queue does not repeat");
    }
    // Wrong verdicts (the two anomalies called normal) come first.
    let labels: Vec<String> = {
        let mut v = Vec::new();
        for k in &seen {
            v.push(s.review_item(&t.rex, t.run, k).await.unwrap().label);
        }
        v
    };
    assert_eq!(
        labels.last().map(String::as_str),
        Some("good"),
        "{labels:?}"
    );

    // Rio judges blind: rex's judgements are hidden until rio's is in.
    let k = s
        .next_review_item(&t.rio, t.run, None)
        .await
        .unwrap()
        .unwrap();
    let before = s.review_item(&t.rio, t.run, &k).await.unwrap();
    assert_eq!((before.judged, before.others.len()), (1, 0));
    s.save_judgement(&t.rio, t.run, &k, judgement(4), None)
        .await
        .unwrap();
    let after = s.review_item(&t.rio, t.run, &k).await.unwrap();
    assert_eq!(after.others.len(), 1);
    assert_eq!(after.others[0].reviewer, "rex");

    // A third reviewer's judgement of that full item is a stale queue position.
    let e = s
        .save_judgement(&t.mel, t.run, &k, judgement(3), None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("go on to the next"), "{e}");

    let p = s.review_progress(&t.rio, t.run).await.unwrap();
    assert_eq!((p.items, p.needed, p.given, p.complete), (3, 6, 4, 1));
    assert_eq!(p.left_for_me, 2);
    assert_eq!(
        p.per_reviewer,
        [("rex".to_string(), 3), ("rio".to_string(), 1)]
    );

    // Previous walks back through rex's own judgements.
    let last = seen.last().unwrap();
    assert_eq!(
        s.previous_review_item(&t.rex, t.run, Some(last))
            .await
            .unwrap(),
        Some(seen[1].clone())
    );
    assert_eq!(
        s.previous_review_item(&t.rex, t.run, Some(&seen[0]))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.previous_review_item(&t.rex, t.run, None).await.unwrap(),
        Some(last.clone())
    );
}

#[tokio::test]
async fn edits_keep_history_and_stale_edits_are_refused() {
    let t = team().await;
    let s = store(&t);
    let k = &t.items[0];
    let first = s
        .save_judgement(&t.mel, t.run, k, judgement(2), None)
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let again = s.save_judgement(&t.mel, t.run, k, judgement(2), None).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let mut better = judgement(5);
    better.fixed_explanation = Some("The left divider is broken.".into());
    let second = s
        .save_judgement(&t.mel, t.run, k, better.clone(), Some(1))
        .await
        .unwrap();
    assert_eq!((second.version, second.judgement.score.get()), (2, 5));
    // An edit made from version 1 again (another tab) is refused and changes nothing.
    let e = s
        .save_judgement(&t.mel, t.run, k, judgement(1), Some(1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
    assert_eq!(
        s.judgement(first.id).await.unwrap().judgement.score.get(),
        5
    );
    let history = s.judgement_history(&t.mel, first.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].version, history[0].judgement.score.get()),
        (1, 2)
    );
    assert!(matches!(
        s.judgement_history(&t.rex, first.id).await,
        Err(StoreError::Forbidden(_))
    ));

    // Bad input stores nothing.
    let mut long = judgement(3);
    long.comment = "x".repeat(100 * 1024);
    let e = s
        .save_judgement(&t.mel, t.run, &t.items[1], long, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 2000"), "{e}");
    let gone = ItemKey {
        image_id: t.items[1].image_id,
        prompt: "P9".into(),
    };
    assert!(matches!(
        s.save_judgement(&t.mel, t.run, &gone, judgement(3), None)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.review_export(t.run).await.unwrap().len(), 1);

    // Fix & accept becomes a QA annotation, by an admin, once.
    let fixes = s.review_fixes(t.run).await.unwrap();
    assert_eq!(fixes.len(), 1);
    assert_eq!(fixes[0].fixed, "The left divider is broken.");
    assert!(matches!(
        s.promote_fix(&t.mel, first.id).await,
        Err(StoreError::Forbidden(_))
    ));
    let qa = s.promote_fix(&t.ada, first.id).await.unwrap();
    assert_eq!(s.promote_fix(&t.ada, first.id).await.unwrap(), qa);
    let (answer, source, by): (String, String, i64) =
        sql::query_as("SELECT answer, source, verified_by FROM qa WHERE id = $1")
            .bind(qa)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(
        (answer.as_str(), source.as_str(), by),
        (
            "The left divider is broken.",
            "generated_verified",
            t.mel.id
        )
    );
    assert_eq!(s.review_fixes(t.run).await.unwrap()[0].qa_id, Some(qa));
}

#[tokio::test]
async fn label_flags_reach_the_dataset_and_the_summary_counts_them() {
    let t = team().await;
    let s = store(&t);
    let mut flag = judgement(3);
    flag.verdict = VerdictCall::LabelWrong;
    flag.comment = "this one is intact".into();
    s.save_judgement(&t.mel, t.run, &t.items[0], flag, None)
        .await
        .unwrap();
    s.save_judgement(&t.ada, t.run, &t.items[1], judgement(1), None)
        .await
        .unwrap();
    let flags = s.label_flags("tiny").await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0].reviewer.as_str(), flags[0].comment.as_str()),
        ("mel", "this one is intact")
    );
    let r = s.run_review(t.run).await.unwrap();
    assert_eq!(r.overall.judgements, 2);
    assert_eq!(r.overall.label_flags, 1);
    assert_eq!(r.overall.verdict_accuracy, Some(0.0));
    assert_eq!(r.overall.mean_score, Some(2.0));
    assert_eq!(r.per_prompt[0].0, "P1");
}

#[tokio::test]
async fn a_judged_run_is_deleted_only_with_its_judgements_unchanged() {
    let t = team().await;
    let s = store(&t);
    let e = s
        .delete_eval_run(t.run, JudgementsSeen::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cancel it"), "a queued run: {e}");
    s.finish_job(t.run, None).await.unwrap();

    let mut fixed = judgement(4);
    fixed.fixed_explanation = Some("The divider is broken on the left.".into());
    let j = s
        .save_judgement(&t.mel, t.run, &t.items[0], fixed, None)
        .await
        .unwrap();
    let qa = s.promote_fix(&t.ada, j.id).await.unwrap();
    let seen = s.judgements_seen(t.run).await.unwrap();
    assert_eq!(
        seen,
        JudgementsSeen {
            count: 1,
            versions: 1
        }
    );

    // What the caller saw is stale after an edit, and after a new judgement: nothing goes.
    s.save_judgement(&t.mel, t.run, &t.items[0], judgement(2), Some(1))
        .await
        .unwrap();
    let e = s.delete_eval_run(t.run, seen).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let seen = s.judgements_seen(t.run).await.unwrap();
    s.save_judgement(&t.ada, t.run, &t.items[1], judgement(3), None)
        .await
        .unwrap();
    assert!(matches!(
        s.delete_eval_run(t.run, seen).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.predictions(t.run).await.unwrap().len(), 3);

    // The dataset cannot take judged runs with it.
    let e = s.delete_dataset(&t.f.data, "tiny", true).await.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("run(s) {} on dataset", t.run)),
        "{e}"
    );

    let seen = s.judgements_seen(t.run).await.unwrap();
    s.delete_eval_run(t.run, seen).await.unwrap();
    assert!(matches!(s.job(t.run).await, Err(StoreError::NotFound(_))));
    let left: (i64, i64) = sql::query_as(
        "SELECT (SELECT COUNT(*) FROM judgements), (SELECT COUNT(*) FROM predictions)",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(left, (0, 0));
    // The promoted answer stays, verified by mel; it no longer points at a judgement.
    let (source, verified_by, from): (String, Option<i64>, Option<i64>) =
        sql::query_as("SELECT source, verified_by, from_judgement FROM qa WHERE id = $1")
            .bind(qa)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(
        (source.as_str(), verified_by, from),
        ("generated_verified", Some(t.mel.id), None)
    );
    // Not an evaluation run (the fixture's training job), or gone: not found.
    let (train,): (i64,) = sql::query_as("SELECT id FROM jobs WHERE kind = 'train' LIMIT 1")
        .fetch_one(s.pool())
        .await
        .unwrap();
    for id in [train, t.run] {
        assert!(matches!(
            s.delete_eval_run(id, JudgementsSeen::default()).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn a_deleted_newest_run_gives_its_id_to_no_other_job() {
    let t = team().await;
    let s = store(&t);
    s.finish_job(t.run, None).await.unwrap();
    s.delete_eval_run(t.run, JudgementsSeen::default())
        .await
        .unwrap();
    let cfg = EvalConfig::new("tiny-llava", "tiny", "s", &["P1"]);
    let queued = s
        .create_job(
            JobKind::Eval,
            &JobConfig::encode(&cfg),
            JobOwner::User(t.mel.id),
        )
        .await
        .unwrap();
    let running = s
        .create_running_job(
            JobKind::Eval,
            &JobConfig::encode(&cfg),
            JobOwner::CommandLine,
        )
        .await
        .unwrap();
    assert_eq!((queued, running), (t.run + 1, t.run + 2));
}

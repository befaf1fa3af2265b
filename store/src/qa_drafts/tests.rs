use crate::sql;
use anomaly::qa_draft::DraftConfig;
use anomaly::Label;

use super::NewDraft;
use crate::draft_records::{DraftDecision, DraftStatus};
use crate::job_protocol::JobConfig;
use crate::records::{JobKind, Role, UserInfo};
use crate::testing::Fixture;
use crate::{JobOwner, StoreError};

/// The fixture's logical test image, with its annotations removed: the one image to draft.
async fn unannotated(f: &Fixture) -> i64 {
    let (image,): (i64,) =
        sql::query_as("SELECT id FROM images WHERE split = 'test' AND label = 'logical' LIMIT 1")
            .fetch_one(f.store.pool())
            .await
            .unwrap();
    sql::query("DELETE FROM qa WHERE image_id = $1")
        .bind(image)
        .execute(f.store.pool())
        .await
        .unwrap();
    image
}

#[tokio::test]
async fn drafting_takes_the_images_without_annotations_unless_told_otherwise() {
    let f = Fixture::new().await;
    let s = &f.store;
    let image = unannotated(&f).await;
    let mut cfg = DraftConfig::new("tiny-llava", "tiny");
    let targets = s.draft_targets(&cfg).await.unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    let t = &targets[0];
    assert_eq!((t.image_id, t.label.as_str()), (image, "logical"));
    assert!(t.file.starts_with("datasets"), "{:?}", t.file);
    let (has_mask,): (bool,) = sql::query_as("SELECT has_mask FROM images WHERE id = $1")
        .bind(image)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(t.mask.is_some(), has_mask);
    assert_eq!(t.question, anomaly::synth::qa::MANUAL_QUESTION);

    cfg.include_annotated = true;
    assert_eq!(s.draft_targets(&cfg).await.unwrap().len(), f.images);
    cfg.label = Some(Label::Good);
    let good = s.draft_targets(&cfg).await.unwrap();
    assert!(!good.is_empty() && good.iter().all(|t| t.label == "good"));
    // An annotated image's question and defect name come along.
    assert!(good.iter().all(|t| !t.question.is_empty()));
    cfg.label = None;
    cfg.limit = Some(2);
    assert_eq!(s.draft_targets(&cfg).await.unwrap().len(), 2);
    cfg.category = Some("breakfast_box".into());
    assert!(s.draft_targets(&cfg).await.unwrap().is_empty());
    cfg.dataset = "nope".into();
    assert!(matches!(
        s.draft_targets(&cfg).await,
        Err(StoreError::NoSuchDataset(_))
    ));
}

#[tokio::test]
async fn decisions_make_the_annotation_and_a_stale_one_is_refused_with_theirs() {
    let f = Fixture::new().await;
    let s = &f.store;
    let image = unannotated(&f).await;
    let mel = s
        .create_user("mel", "password1", Role::Member)
        .await
        .unwrap();
    let ada = s
        .create_user("ada", "password1", Role::Admin)
        .await
        .unwrap();
    let rex = s
        .create_user("rex", "password1", Role::Reviewer)
        .await
        .unwrap();
    let cfg = DraftConfig::new("tiny-llava", "tiny");
    let job = s
        .create_job(
            JobKind::DraftQa,
            &JobConfig::encode(&cfg),
            JobOwner::User(mel.id),
        )
        .await
        .unwrap();
    let region = anomaly::dataset::qa::Region {
        x: 0.1,
        y: 0.1,
        w: 0.2,
        h: 0.2,
    };
    let new = NewDraft {
        image_id: image,
        question: "Is there any defect?",
        draft: "Anomalous. A pin is missing at the top left.",
        raw: "Anomalous. A pin is missing at the top left.",
        prompt: "This image shows a pushpins. …",
        anomaly: Some("missing pin"),
        region: Some(region),
    };
    s.save_draft(job, &new).await.unwrap();
    // A resumed job drafting the image again keeps the first draft.
    s.save_draft(
        job,
        &NewDraft {
            draft: "other",
            ..new.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.drafted_images(job).await.unwrap(), [image]);
    let drafts = s.drafts(job).await.unwrap();
    assert_eq!(drafts.len(), 1);
    let d = &drafts[0];
    assert_eq!(
        (d.status, d.version, d.draft.as_str()),
        (DraftStatus::Pending, 1, new.draft)
    );
    let before = s.qa_source_counts("tiny").await.unwrap();
    assert_eq!(before.pending_drafts, 1);

    // Refused: a reviewer, an empty reason, an overlong answer. Nothing changes.
    for (who, decision, says) in [
        (&rex, DraftDecision::Accept, "not shared with rex"),
        (&mel, DraftDecision::Reject { reason: " ".into() }, "reason"),
        (
            &mel,
            DraftDecision::Edit {
                answer: "x".repeat(100 * 1024),
            },
            "at most 4000",
        ),
    ] {
        let e = s.decide_draft(who, d.id, 1, decision).await.unwrap_err();
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    assert_eq!(s.draft(d.id).await.unwrap().version, 1);

    let accepted = s
        .decide_draft(&mel, d.id, 1, DraftDecision::Accept)
        .await
        .unwrap();
    assert_eq!(
        (
            accepted.status,
            accepted.version,
            accepted.decided_by.as_deref()
        ),
        (DraftStatus::Accepted, 2, Some("mel"))
    );
    let qa = accepted.qa_id.expect("an annotation");
    let row = |id: i64| async move {
        sql::query_as::<(
            String,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
        )>(
            "SELECT answer, source, verified_by, anomaly, region, from_draft FROM qa WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(s.pool())
        .await
        .unwrap()
    };
    let (answer, source, by, name, region_text, from) = row(qa).await.unwrap();
    assert_eq!(
        (answer.as_str(), source.as_str(), by, name.as_deref(), from),
        (
            new.draft,
            "generated_verified",
            Some(mel.id),
            Some("missing pin"),
            Some(d.id)
        )
    );
    assert!(region_text.unwrap().contains("\"x\":0.1"));

    // Ada decides from the version she loaded before mel's accept: refused, showing mel's.
    let e = s
        .decide_draft(
            &ada,
            d.id,
            1,
            DraftDecision::Edit {
                answer: "A pin is missing.".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("mel decided this draft first") && m.contains("accepted"),
        "{m}"
    );
    assert!(m.contains(new.draft), "{m}");
    assert_eq!(row(qa).await.unwrap().0, new.draft);

    // From the current version: her edit rewrites the same annotation, verified by her.
    let edited = s
        .decide_draft(
            &ada,
            d.id,
            2,
            DraftDecision::Edit {
                answer: "  A pin is missing at the top left.  ".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (edited.status, edited.qa_id),
        (DraftStatus::Edited, Some(qa))
    );
    let (answer, _, by, ..) = row(qa).await.unwrap();
    assert_eq!(
        (answer.as_str(), by),
        ("A pin is missing at the top left.", Some(ada.id))
    );
    let counts = s.qa_source_counts("tiny").await.unwrap();
    assert_eq!(counts.verified_by_person, before.verified_by_person + 1);
    assert_eq!(counts.pending_drafts, 0);
    assert_eq!(counts.annotated_images, before.annotated_images + 1);

    // Rejecting removes the annotation and keeps the reason; a person's own answer is manual.
    let rejected = s
        .decide_draft(
            &mel,
            d.id,
            3,
            DraftDecision::Reject {
                reason: "the pin is there; a different one is bent".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (rejected.status, rejected.qa_id),
        (DraftStatus::Rejected, None)
    );
    assert!(row(qa).await.is_none());
    assert_eq!(
        rejected.reason.as_deref(),
        Some("the pin is there; a different one is bent")
    );
    let manual = s
        .decide_draft(
            &mel,
            d.id,
            4,
            DraftDecision::Manual {
                answer: "Anomalous: a pin is bent at the top left.".into(),
            },
        )
        .await
        .unwrap();
    let (_, source, by, ..) = row(manual.qa_id.unwrap()).await.unwrap();
    assert_eq!((source.as_str(), by), ("manual", Some(mel.id)));
    let counts = s.qa_source_counts("tiny").await.unwrap();
    assert_eq!(counts.manual, before.manual + 1);
    let progress = s.draft_progress(job).await.unwrap();
    assert_eq!(
        (progress.total, progress.manual, progress.pending),
        (1, 1, 0)
    );

    // Every version it replaced is in the history.
    let history: Vec<(i64, String)> = sql::query_as(
        "SELECT version, status FROM qa_draft_history WHERE draft_id = $1 ORDER BY version",
    )
    .bind(d.id)
    .fetch_all(s.pool())
    .await
    .unwrap();
    let statuses: Vec<&str> = history.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses, ["pending", "accepted", "edited", "rejected"]);
    assert!(matches!(
        s.decide_draft(&mel, 999, 1, DraftDecision::Accept).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_reviewer_decides_the_drafts_of_a_job_shared_with_them_and_sees_only_its_images() {
    let f = Fixture::new().await;
    let s = &f.store;
    let image = unannotated(&f).await;
    let mel = s
        .create_user("mel", "password1", Role::Member)
        .await
        .unwrap();
    let rex = s
        .create_user("rex", "password1", Role::Reviewer)
        .await
        .unwrap();
    let cfg = DraftConfig::new("tiny-llava", "tiny");
    let job = s
        .create_job(
            JobKind::DraftQa,
            &JobConfig::encode(&cfg),
            JobOwner::User(mel.id),
        )
        .await
        .unwrap();
    let new = NewDraft {
        image_id: image,
        question: "Is there any defect?",
        draft: "Anomalous. A pin is missing.",
        raw: "Anomalous. A pin is missing.",
        prompt: "p",
        anomaly: None,
        region: None,
    };
    s.save_draft(job, &new).await.unwrap();
    let draft = s.drafts(job).await.unwrap()[0].id;
    let other: (i64,) = sql::query_as("SELECT id FROM images WHERE id != $1 LIMIT 1")
        .bind(image)
        .fetch_one(s.pool())
        .await
        .unwrap();

    let sees = |u: &UserInfo| {
        let u = u.clone();
        async move {
            (
                s.may_decide_drafts(&u, job).await.unwrap(),
                s.may_see_job(&u, job).await.unwrap(),
                s.may_see_image(&u, image).await.unwrap(),
                s.may_see_image(&u, other.0).await.unwrap(),
            )
        }
    };
    assert_eq!(sees(&rex).await, (false, false, false, false));
    assert_eq!(sees(&mel).await, (true, true, true, true));
    assert!(s.shared_draft_jobs(&rex).await.unwrap().is_empty());

    // The owner may share it; a reviewer may not share it on.
    assert!(s.may_manage_review(&mel, job).await.unwrap());
    assert!(!s.may_manage_review(&rex, job).await.unwrap());
    s.share_review(job, "rex").await.unwrap();
    assert_eq!(s.review_shares(job).await.unwrap(), ["rex"]);
    assert_eq!(s.shared_draft_jobs(&rex).await.unwrap(), [job]);
    // The drafting job and its image, not the dataset's other images.
    assert_eq!(sees(&rex).await, (true, true, true, false));
    let d = s
        .decide_draft(&rex, draft, 1, DraftDecision::Accept)
        .await
        .unwrap();
    assert_eq!(
        (d.status, d.decided_by.as_deref()),
        (DraftStatus::Accepted, Some("rex"))
    );

    // Taken back: the decision stays, the next one is refused.
    assert!(s.unshare_review(job, "rex").await.unwrap());
    assert_eq!(sees(&rex).await, (false, false, false, false));
    let e = s
        .decide_draft(
            &rex,
            draft,
            2,
            DraftDecision::Reject {
                reason: "vague".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e}");
    assert_eq!(s.draft(draft).await.unwrap().status, DraftStatus::Accepted);
}

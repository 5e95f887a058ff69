//! Every answer of the sink's counterpart has a defined outcome: `trailscope ingest` against a fake
//! OpenSearch that answers what a real node will not on demand (413, garbage, items without an
//! error object, a reply without `errors`, too few or too many items, a body that never ends, a
//! connection cut mid-body). Each test checks the counts, the dead letters and the exit code
//! (README "Exit codes": 4 after giving up on the retry budget).

mod common;
#[path = "common/fake_opensearch.rs"]
mod fake_opensearch;

use chrono::Utc;
use common::*;
use fake_opensearch::{bulk_response, Answer, FakeOpenSearch};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one `trailscope ingest` run did.
struct Run {
    code: Option<i32>,
    summary: Option<Value>,
    stderr: String,
    dead_letters: Vec<Value>,
    elapsed: Duration,
    _dir: tempfile::TempDir,
}

/// `n` synthetic CloudTrail events, one JSON text each.
fn events(seed: u32, n: usize) -> Vec<String> {
    synthetic::events(seed, n, Utc::now() - chrono::Duration::hours(1), 1000)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// Runs `trailscope ingest` of `lines` (NDJSON) into the fake, with a short retry budget.
async fn ingest(fake: &FakeOpenSearch, prefix: &str, lines: &[String], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let dead: PathBuf = dir.path().join("dead.ndjson");
    let mut args: Vec<String> = [
        "ingest",
        "--opensearch-url",
        &fake.url,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--retry-give-up-secs",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(input.to_str().unwrap().to_owned());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        trailscope(&args)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code(),
        summary: stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok()),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dead_letters: std::fs::read_to_string(&dead)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        elapsed: started.elapsed(),
        _dir: dir,
    }
}

impl Run {
    fn summary(&self) -> &Value {
        self.summary.as_ref().unwrap_or_else(|| {
            panic!(
                "no summary (exit {:?}); stderr:\n{}",
                self.code, self.stderr
            )
        })
    }

    /// Gave up after the retry budget: exit 4, the reason named, nothing dead-lettered.
    fn assert_gave_up(&self, why: &str) {
        assert_eq!(self.code, Some(4), "stderr:\n{}", self.stderr);
        assert!(
            self.stderr.contains("gave up delivering"),
            "{}",
            self.stderr
        );
        assert!(
            self.stderr.contains("s of retries (--retry-give-up-secs)"),
            "names the setting, no debug-formatted duration: {}",
            self.stderr
        );
        assert!(self.stderr.contains(why), "{why:?} in:\n{}", self.stderr);
        assert!(
            self.dead_letters.is_empty(),
            "good events dead-lettered: {:?}",
            self.dead_letters
        );
    }
}

/// A 413 for the whole body splits it in halves until the parts pass; the one document too
/// large alone is dead-lettered with its size and what to raise, every other one is indexed,
/// and nothing counts as a retry.
#[tokio::test(flavor = "multi_thread")]
async fn a_413_splits_the_batch_and_dead_letters_only_the_document_too_large_alone() {
    const LIMIT: usize = 30_000;
    let prefix = format!("{}-", unique("t-413"));
    let fake = FakeOpenSearch::start(&prefix, |r| {
        if r.bytes > LIMIT {
            Answer::Status(
                413,
                "<html><body><h1>413 Request Entity Too Large</h1></body></html>".into(),
            )
        } else {
            Answer::AllCreated
        }
    })
    .await;
    let mut lines = events(0x41300, 40);
    let mut big: Value = serde_json::from_str(&lines[17]).unwrap();
    big["requestParameters"] = json!({"policyDocument": "p".repeat(2 * LIMIT)});
    lines[17] = big.to_string();

    let run = ingest(&fake, &prefix, &lines, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["read"], 40, "{s}");
    assert_eq!(s["indexed"], 39, "{s}");
    assert_eq!(s["dead_lettered"], 1, "{s}");
    assert_eq!(s["bulk_retries"], 0, "splitting is not a retry: {s}");
    assert_eq!(run.dead_letters.len(), 1);
    let letter = &run.dead_letters[0];
    assert_eq!(letter["stage"], "index");
    assert_eq!(letter["error_type"], "request_too_large");
    assert_eq!(letter["event"], lines[17].as_str(), "the original event");
    let reason = letter["reason"].as_str().unwrap();
    for needle in [
        "HTTP 413",
        "http.max_content_length",
        "413 Request Entity Too Large",
    ] {
        assert!(reason.contains(needle), "{needle:?} in {reason}");
    }
    let requests = fake.bulk_requests();
    assert_eq!(requests[0].documents.len(), 40, "the whole batch first");
    let alone = requests
        .iter()
        .find(|r| r.documents.len() == 1 && r.bytes > LIMIT)
        .expect("the big document sent alone");
    assert!(
        reason.contains(&format!("was {} bytes", alone.bytes)),
        "the size sent in {reason}"
    );
    // Every other document was accepted exactly once.
    let accepted: usize = requests
        .iter()
        .filter(|r| r.bytes <= LIMIT)
        .map(|r| r.documents.len())
        .sum();
    assert_eq!(accepted, 39);
}

/// An item refused with status 400 and no error object is dead-lettered with a reason a person
/// can read (it was an empty string); the others are indexed.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_refused_without_an_error_object_gets_a_reason() {
    let prefix = format!("{}-", unique("t-noerr"));
    let fake = FakeOpenSearch::start(&prefix, |r| {
        Answer::Body(bulk_response(r, Some(true), |i| {
            if i == 2 {
                r#"{"create":{"status":400}}"#.into()
            } else {
                r#"{"create":{"status":201}}"#.into()
            }
        }))
    })
    .await;
    let lines = events(0x40000, 5);
    let run = ingest(&fake, &prefix, &lines, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(
        (s["indexed"].as_u64(), s["dead_lettered"].as_u64()),
        (Some(4), Some(1)),
        "{s}"
    );
    assert_eq!(s["bulk_retries"], 0, "{s}");
    assert_eq!(run.dead_letters.len(), 1);
    let letter = &run.dead_letters[0];
    assert_eq!(letter["error_type"], "http_400");
    assert_eq!(
        letter["reason"],
        "OpenSearch answered status 400 for this item without saying why"
    );
    assert_eq!(letter["event"], lines[2].as_str());
}

/// A 200 reply without the `errors` key is read from its items: delivered at the first try
/// (it was retried until giving up although every item was created).
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_without_errors_is_classified_from_its_items() {
    let prefix = format!("{}-", unique("t-noerrors"));
    let fake = FakeOpenSearch::start(&prefix, |r| {
        Answer::Body(bulk_response(r, None, |_| {
            r#"{"create":{"status":201}}"#.into()
        }))
    })
    .await;
    let run = ingest(&fake, &prefix, &events(0x40001, 7), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["indexed"], 7, "{s}");
    assert_eq!(s["bulk_retries"], 0, "{s}");
    assert_eq!(s["bulk_requests"], 1, "{s}");
    assert!(run.dead_letters.is_empty());
}

/// A 200 whose body is not a bulk response is retried with backoff: once, then delivered; always,
/// then given up with exit 4 and no good event dead-lettered.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_200_is_retried_then_given_up() {
    let prefix = format!("{}-", unique("t-garbage"));
    let once = FakeOpenSearch::start(&prefix, |r| {
        if r.n == 0 {
            Answer::Body("<html>Service Temporarily Unavailable</html>".into())
        } else {
            Answer::AllCreated
        }
    })
    .await;
    let lines = events(0x40002, 6);
    let run = ingest(&once, &prefix, &lines, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(
        (s["indexed"].as_u64(), s["bulk_retries"].as_u64()),
        (Some(6), Some(1)),
        "{s}"
    );
    assert!(
        run.stderr.contains("unreadable bulk response"),
        "{}",
        run.stderr
    );

    let always = FakeOpenSearch::start(&prefix, |_| Answer::Body("{\"took\":3,".into())).await;
    let run = ingest(&always, &prefix, &lines, &[]).await;
    run.assert_gave_up("unreadable bulk response");
    assert!(always.bulk_requests().len() > 1, "retried before giving up");
}

/// Too few or too many items for the documents sent: no outcome can be matched to a document, so
/// the request is retried, and never dead-letters anything.
#[tokio::test(flavor = "multi_thread")]
async fn too_few_or_too_many_items_are_retried_then_given_up() {
    let prefix = format!("{}-", unique("t-count"));
    let fake = FakeOpenSearch::start(&prefix, |r| {
        let mut fewer = r.clone();
        if r.n % 2 == 0 {
            fewer.documents.pop();
        } else {
            fewer.documents.push(String::new());
        }
        Answer::Body(bulk_response(&fewer, Some(false), |_| {
            r#"{"create":{"status":201}}"#.into()
        }))
    })
    .await;
    let run = ingest(&fake, &prefix, &events(0x40003, 4), &[]).await;
    run.assert_gave_up("items for 4 sent");
    let requests = fake.bulk_requests();
    assert!(requests.len() >= 2, "{} requests", requests.len());
    assert!(
        requests.iter().all(|r| r.documents.len() == 4),
        "always the whole batch again"
    );
}

/// An answer whose body never ends fails after the request timeout (not a hang), is retried, and
/// ends in giving up with exit 4.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_ends_times_out_and_gives_up() {
    let prefix = format!("{}-", unique("t-hang"));
    let fake = FakeOpenSearch::start(&prefix, |_| {
        Answer::NeverEnds("{\"took\":1,\"errors\":false,\"items\":[".into())
    })
    .await;
    let run = ingest(
        &fake,
        &prefix,
        &events(0x40004, 3),
        &["--request-timeout-secs", "1"],
    )
    .await;
    run.assert_gave_up("broke off");
    assert!(
        run.elapsed < Duration::from_secs(30),
        "took {:?}",
        run.elapsed
    );
    assert!(fake.bulk_requests().len() >= 2, "retried before giving up");
}

/// A connection cut in the middle of the answer is retried: once, then everything is delivered;
/// always, then given up with exit 4.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_body_is_retried() {
    let prefix = format!("{}-", unique("t-cut"));
    let part = "{\"took\":1,\"errors\":false,\"items\":[{\"create\":{\"sta";
    let once = FakeOpenSearch::start(&prefix, move |r| {
        if r.n == 0 {
            Answer::CutMidBody(part.into())
        } else {
            Answer::AllCreated
        }
    })
    .await;
    let lines = events(0x40005, 5);
    let run = ingest(&once, &prefix, &lines, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(
        (s["indexed"].as_u64(), s["bulk_retries"].as_u64()),
        (Some(5), Some(1)),
        "{s}"
    );
    assert!(run.dead_letters.is_empty());

    let always = FakeOpenSearch::start(&prefix, move |_| Answer::CutMidBody(part.into())).await;
    let run = ingest(&always, &prefix, &lines, &[]).await;
    run.assert_gave_up("broke off");
}

/// A `_bulk` request refused as a whole stops the run with the code a supervisor can act on: 403
/// is a permission (3), any other refusal 1. Nothing is dead-lettered: the events are still
/// good, only the cluster's answer is not.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_refused_as_a_whole_stops_with_its_exit_code() {
    let prefix = format!("{}-", unique("t-refused"));
    let lines = events(0x40006, 3);
    for (status, code, said) in [
        (403, 3, "refused the credentials for _bulk (HTTP 403)"),
        (400, 1, "refused a _bulk request with HTTP 400"),
    ] {
        let fake = FakeOpenSearch::start(&prefix, move |_| {
            Answer::Status(status, r#"{"error":{"type":"x","reason":"no"}}"#.into())
        })
        .await;
        let run = ingest(&fake, &prefix, &lines, &[]).await;
        assert_eq!(run.code, Some(code), "HTTP {status}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{said:?} in {}", run.stderr);
        assert!(run.dead_letters.is_empty(), "{:?}", run.dead_letters);
        assert_eq!(fake.bulk_requests().len(), 1, "not retried");
    }
}

/// Through `forward` (moto as CloudWatch Logs): a 413 no longer stops the run, so the checkpoint
/// moves past the batch and a second run reads nothing again (before, every restart re-read the
/// same events and failed on them again).
#[tokio::test(flavor = "multi_thread")]
async fn forward_gets_past_a_document_too_large_and_does_not_read_it_again() {
    const LIMIT: usize = 30_000;
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-413fwd"));
    let group = format!("/test/{}", unique("413fwd"));
    let fake = FakeOpenSearch::start(&prefix, |r| {
        if r.bytes > LIMIT {
            Answer::Status(413, String::new())
        } else {
            Answer::AllCreated
        }
    })
    .await;
    let mut events = synthetic::events(
        0x41301,
        12,
        Utc::now() - chrono::Duration::minutes(30),
        1000,
    );
    let mut big: Value = serde_json::from_str(&events[5].1).unwrap();
    big["requestParameters"] = json!({"policyDocument": "p".repeat(2 * LIMIT)});
    events[5].1 = big.to_string();
    stack.put_events(&group, 1, &events).await;

    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let mut args = forward_args(&group, &prefix, &dead, &["--retry-give-up-secs", "2"]);
    let url = args.iter().position(|a| a == "--opensearch-url").unwrap() + 1;
    args[url] = fake.url.clone();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            summary(&ok(trailscope(&args)))
        })
    };
    let first = run(args.clone()).await.unwrap();
    assert_eq!(first["read"], 12, "{first}");
    assert_eq!(first["indexed"], 11, "{first}");
    assert_eq!(first["dead_lettered"], 1, "{first}");
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(letters.lines().count(), 1);
    let letter: Value = serde_json::from_str(letters.trim()).unwrap();
    assert_eq!(letter["error_type"], "request_too_large");
    assert_eq!(letter["event"], events[5].1.as_str());

    let second = run(args).await.unwrap();
    assert_eq!(
        second["read"], 0,
        "read again after the checkpoint: {second}"
    );
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap().lines().count(),
        1,
        "no second dead letter"
    );
}

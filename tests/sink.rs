//! What lands in OpenSearch and what does not: the real corpus, rejected documents, big payloads.

mod common;

use chrono::Utc;
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use trailscope::event::cloudtrail::{parse_time, CloudTrailRecord};
use trailscope::event::encode::{document_id, index_name};

/// Every event of the shared corpus (written by others: ../shared/corpus/SOURCES.md) indexes
/// with zero rejections, and the documents carry the source events' values.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs ../shared/corpus: scripts/test.sh runs it where the corpus is"]
async fn shared_corpus_indexes_with_zero_rejections() {
    let path = shared_corpus("cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson");
    let stack = Stack::connect().await;
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 400, "the corpus has {} events", lines.len());
    // CloudWatch Logs takes events up to 14 days old: deliver them now, as a late backfill would;
    // documents are indexed by their own eventTime.
    let now = Utc::now().timestamp_millis();
    let events: Vec<(i64, String)> = lines.iter().map(|l| (now, l.to_string())).collect();
    let group = format!("/test/{}", unique("corpus"));
    let prefix = format!("{}-", unique("t-corpus"));
    stack.put_events(&group, 2, &events).await;
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    // The fixtures are years old: a backfill of old events widens the time window (by default 2
    // years back), or they would go to the quarantine index.
    let summary = forward_once(&group, &prefix, &dead, &["--max-event-age", "30y"]);
    assert_eq!(summary["quarantined"], 0, "{summary}");

    // The fixtures reuse eventIDs (SOURCES.md): the same (index, id) is one document.
    let mut expected = HashSet::new();
    for line in &lines {
        let r = CloudTrailRecord::parse(line).expect("every corpus event decodes");
        // Two fixtures have no eventTime: they take the CloudWatch Logs timestamp.
        let time = r
            .event_time
            .unwrap_or_else(|| chrono::DateTime::from_timestamp_millis(now).unwrap());
        expected.insert((index_name(&prefix, time), document_id(&r, line)));
    }
    assert_eq!(summary["read"], lines.len(), "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    assert!(
        !dead.exists(),
        "{}",
        std::fs::read_to_string(&dead).unwrap_or_default()
    );
    assert_eq!(summary["indexed"], expected.len(), "{summary}");
    assert_eq!(
        summary["indexed"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        lines.len() as u64
    );
    assert_eq!(stack.count(&prefix).await, expected.len() as u64);

    // Spot checks: for ids that occur once, the document has the source event's values.
    let docs = stack.all_docs(&prefix).await;
    let mut checked = 0;
    for line in &lines {
        let src: Value = serde_json::from_str(line).unwrap();
        let Some(id) = src["eventID"].as_str() else {
            continue;
        };
        let same_id = lines
            .iter()
            .filter(|l| l.contains(&format!("\"eventID\": \"{id}\"")))
            .count();
        if same_id != 1 {
            continue;
        }
        let doc = docs.iter().find(|d| d["_id"] == id).expect("indexed");
        assert_eq!(doc["event"]["action"], src["eventName"]);
        assert_eq!(doc["event"]["provider"], src["eventSource"]);
        assert_eq!(doc["cloud"]["region"], src["awsRegion"]);
        if let Some(t) = src["eventTime"].as_str().and_then(parse_time) {
            // Written as CloudTrail wrote it when that is RFC 3339, normalised otherwise.
            assert_eq!(parse_time(doc["@timestamp"].as_str().unwrap()), Some(t));
        }
        if let Some(key) = src["userIdentity"]["accessKeyId"].as_str() {
            assert_eq!(
                doc["aws"]["cloudtrail"]["user_identity"]["access_key_id"],
                key
            );
        }
        if let Some(code) = src["errorCode"].as_str() {
            assert_eq!(doc["aws"]["cloudtrail"]["error_code"], code);
            assert_eq!(doc["event"]["outcome"], "failure");
        }
        if src["requestParameters"].is_object() {
            // In the flat_object copy where it took them (the default), else as text.
            let cloudtrail = &doc["aws"]["cloudtrail"];
            let back: Value = match cloudtrail["request_parameters"].as_str() {
                Some(text) => serde_json::from_str(text).unwrap(),
                None => cloudtrail["flattened"]["request_parameters"].clone(),
            };
            assert_eq!(
                back, src["requestParameters"],
                "request parameters kept as they came"
            );
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} events could be spot-checked");
    stack.cleanup(&prefix).await;
}

/// One batch mixes events for a write-blocked index (as an operator or an ISM read_only state
/// leaves old indices) with good events: the good ones are indexed, the refused ones are in the
/// dead-letter file with their reason and original text, and nothing is retried forever.
#[tokio::test(flavor = "multi_thread")]
async fn refused_documents_go_to_the_dead_letter_file_and_the_rest_is_indexed() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("mixed"));
    let prefix = format!("{}-", unique("t-mixed"));
    setup(&prefix);
    // Noon two days back: the 40 events stay on one UTC day whatever the hour the test runs
    // (`now - 1 day` at 23:59:40 put half of them in the next day's index, which is not
    // blocked), and that day is never the day of `today`'s events.
    let yesterday = (Utc::now() - chrono::Duration::days(2))
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let today = Utc::now() - chrono::Duration::minutes(30);
    let mut events = common::synthetic::events(0x20000, 40, yesterday, 1000);
    events.extend(common::synthetic::events(0x20001, 60, today, 1000));
    // A payload with a string longer than Lucene's term limit: indexed, not refused.
    let mut big = common::synthetic::record(0x20002, 0, today);
    big["requestParameters"] = json!({"templateBody": "x".repeat(40_000)});
    events.push((today.timestamp_millis(), big.to_string()));
    // A message that is not CloudTrail at all.
    events.push((
        today.timestamp_millis(),
        "not a CloudTrail record".to_string(),
    ));
    stack.put_events(&group, 1, &events).await;

    let blocked = index_name(&prefix, yesterday);
    let (status, body) = stack
        .request(Method::Put, &format!("/{blocked}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .request(
            Method::Put,
            &format!("/{blocked}/_settings"),
            Some(json!({"index.blocks.write": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let summary = forward_once(&group, &prefix, &dead, &["--batch-events", "1000"]);
    assert_eq!(summary["read"], 102, "{summary}");
    assert_eq!(summary["indexed"], 61, "{summary}");
    assert_eq!(summary["dead_lettered"], 41, "{summary}");
    // Refused items are not retried (yesterday's and today's events are read in different
    // 1-hour slices, so there are two bulk requests).
    assert_eq!(summary["bulk_retries"], 0, "{summary}");
    assert_eq!(summary["retried_items"], 0, "{summary}");
    assert_eq!(stack.count(&prefix).await, 61);

    let letters: Vec<Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 41);
    let decode: Vec<&Value> = letters.iter().filter(|l| l["stage"] == "decode").collect();
    assert_eq!(decode.len(), 1);
    assert_eq!(decode[0]["event"], "not a CloudTrail record");
    assert_eq!(decode[0]["error_type"], "not_json");
    for l in letters.iter().filter(|l| l["stage"] == "index") {
        assert_eq!(l["index"], blocked.as_str());
        assert_eq!(l["error_type"], "cluster_block_exception", "{l}");
        assert!(l["reason"].as_str().unwrap().contains("blocked"), "{l}");
        let original: Value = serde_json::from_str(l["event"].as_str().unwrap()).unwrap();
        assert_eq!(l["id"], original["eventID"]);
        assert_eq!(l["origin"]["cloud_watch"]["log_group"], group.as_str());
    }
    stack
        .request(
            Method::Put,
            &format!("/{blocked}/_settings"),
            Some(json!({"index.blocks.write": false})),
        )
        .await;
    stack.cleanup(&prefix).await;
}

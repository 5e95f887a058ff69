//! What an answer to a `_bulk` request means: for each item and for the request as a whole. A
//! pure function of the reply, so that every answer OpenSearch (or a proxy in front of it) can
//! give is decided in one place and unit-tested without a network; `Sink::deliver` only acts on
//! the verdict (the split of Vector's `RetryLogic` and its sink).

use super::bulk::{ItemError, ItemResult};
use super::opensearch::BulkReply;
use crate::stats::RetryCause;

/// What became of one item of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    Indexed,
    /// `create` found a document with this id: an earlier delivery of the same event.
    Duplicate,
    /// OpenSearch pushes back (429): send it again later, with fewer requests in flight.
    Throttled(ItemError),
    /// OpenSearch is failing (5xx), or the item's answer makes no sense: send it again later.
    Retry(ItemError),
    /// OpenSearch will never take it as it is (mapping error, 403 on that index, ...). The error
    /// always has a reason a person can read.
    Rejected(ItemError),
}

/// What to do with a request, given its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// One outcome per item sent, in the order sent.
    Items(Vec<ItemOutcome>),
    /// The request failed as a whole, for now: send all its items again after a delay.
    Retry { cause: RetryCause, message: String },
    /// The body is larger than the cluster (or a proxy in front of it) accepts (HTTP 413): send
    /// its items in smaller requests; an item too large alone can never be delivered.
    TooLarge { body: String },
    /// The credentials are refused (401/403 for the whole request): retrying cannot help.
    Auth { status: u16, body: String },
    /// The request is refused as a whole for a reason retrying cannot change.
    Refused { status: u16, body: String },
}

/// The verdict on `reply` to a request of `sent` items.
pub fn classify(reply: &BulkReply, sent: usize) -> Verdict {
    match reply {
        BulkReply::Items(response) if response.items.len() == sent => Verdict::Items(
            response
                .items
                .iter()
                .map(|item| item_outcome(item.result()))
                .collect(),
        ),
        // Outcomes cannot be matched to items: none of them can be trusted, and sending all
        // again is safe (`create` with our ids answers 409 for those already there).
        BulkReply::Items(response) => Verdict::Retry {
            cause: RetryCause::BadResponse,
            message: format!(
                "the bulk response has {} items for {sent} sent",
                response.items.len()
            ),
        },
        BulkReply::Unreadable(message) => Verdict::Retry {
            cause: RetryCause::BadResponse,
            message: format!("unreadable bulk response: {message}"),
        },
        BulkReply::NoAnswer(message) => Verdict::Retry {
            cause: RetryCause::Connection,
            message: message.clone(),
        },
        BulkReply::Status { status, body } => {
            let (status, body) = (*status, body.clone());
            match status {
                401 | 403 => Verdict::Auth { status, body },
                413 => Verdict::TooLarge { body },
                429 => Verdict::Retry {
                    cause: RetryCause::Throttled,
                    message: format!("HTTP 429: {body}"),
                },
                // 501 Not Implemented will not change by waiting.
                s if s >= 500 && s != 501 => Verdict::Retry {
                    cause: RetryCause::ServerError,
                    message: format!("HTTP {s}: {body}"),
                },
                _ => Verdict::Refused { status, body },
            }
        }
    }
}

/// The outcome of one item from its status and error.
pub fn item_outcome(result: &ItemResult) -> ItemOutcome {
    let status = result.status;
    let error = || match &result.error {
        Some(e) if e.reason.as_deref().is_some_and(|r| !r.trim().is_empty()) => e.clone(),
        Some(e) => ItemError {
            kind: e.kind.clone(),
            reason: Some(format!(
                "OpenSearch answered status {status} ({}) for this item without saying why",
                e.kind
            )),
        },
        None => ItemError {
            kind: format!("http_{status}"),
            reason: Some(format!(
                "OpenSearch answered status {status} for this item without saying why"
            )),
        },
    };
    match status {
        200..=299 => ItemOutcome::Indexed,
        409 => ItemOutcome::Duplicate,
        429 => ItemOutcome::Throttled(error()),
        s if s >= 500 && s != 501 && s <= 599 => ItemOutcome::Retry(error()),
        // Not an HTTP status (0, 42, 1000): a broken answer says nothing about the document,
        // so it is sent again rather than dead-lettered.
        s if !(100..=599).contains(&s) => ItemOutcome::Retry(ItemError {
            kind: "invalid_item_status".into(),
            reason: Some(format!(
                "the bulk response gives status {s} for this item, which is not an HTTP status"
            )),
        }),
        _ => ItemOutcome::Rejected(error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::bulk::BulkResponse;

    fn reply(json: &str) -> BulkReply {
        BulkReply::Items(serde_json::from_str::<BulkResponse>(json).unwrap())
    }

    fn status(status: u16, body: &str) -> BulkReply {
        BulkReply::Status {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn every_item_status_class_has_its_outcome() {
        let r = reply(
            r#"{"errors":true,"items":[{"create":{"status":201}},{"index":{"status":200}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},
            {"create":{"status":503}},{"create":{"status":501}},{"create":{"status":403,"error":{"type":"cluster_block_exception","reason":"blocked"}}}]}"#,
        );
        let Verdict::Items(o) = classify(&r, 8) else {
            panic!("items expected")
        };
        assert_eq!(o[0], ItemOutcome::Indexed);
        assert_eq!(o[1], ItemOutcome::Indexed);
        assert_eq!(o[2], ItemOutcome::Duplicate);
        assert!(
            matches!(&o[3], ItemOutcome::Throttled(e) if e.kind == "es_rejected_execution_exception")
        );
        assert!(matches!(&o[4], ItemOutcome::Rejected(e) if e.reason.as_deref() == Some("bad")));
        assert!(matches!(&o[5], ItemOutcome::Retry(e) if e.kind == "http_503"));
        assert!(matches!(&o[6], ItemOutcome::Rejected(e) if e.kind == "http_501"));
        assert!(matches!(&o[7], ItemOutcome::Rejected(e) if e.kind == "cluster_block_exception"));
    }

    #[test]
    fn a_refused_item_without_an_error_still_gets_a_reason() {
        let r = reply(
            r#"{"errors":true,"items":[{"create":{"status":400}},
            {"create":{"status":404,"error":{"type":"index_not_found_exception"}}},
            {"create":{"status":400,"error":{"type":"x","reason":"  "}}}]}"#,
        );
        let Verdict::Items(o) = classify(&r, 3) else {
            panic!("items expected")
        };
        let ItemOutcome::Rejected(e) = &o[0] else {
            panic!("{o:?}")
        };
        assert_eq!(e.kind, "http_400");
        assert_eq!(
            e.reason.as_deref(),
            Some("OpenSearch answered status 400 for this item without saying why")
        );
        let ItemOutcome::Rejected(e) = &o[1] else {
            panic!("{o:?}")
        };
        assert_eq!(e.kind, "index_not_found_exception");
        assert!(e.reason.as_deref().unwrap().contains("status 404"), "{e:?}");
        assert!(
            matches!(&o[2], ItemOutcome::Rejected(e) if e.reason.as_deref().unwrap().contains("without saying why"))
        );
    }

    #[test]
    fn an_item_status_that_is_not_http_is_retried_never_dead_lettered() {
        let r = reply(
            r#"{"errors":true,"items":[{"create":{"status":0}},{"create":{"status":1000}}]}"#,
        );
        let Verdict::Items(o) = classify(&r, 2) else {
            panic!("items expected")
        };
        for outcome in o {
            assert!(
                matches!(&outcome, ItemOutcome::Retry(e) if e.kind == "invalid_item_status"),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_reply_without_errors_is_classified_from_its_items() {
        let r = reply(r#"{"items":[{"create":{"status":201}},{"create":{"status":201}}]}"#);
        assert_eq!(
            classify(&r, 2),
            Verdict::Items(vec![ItemOutcome::Indexed, ItemOutcome::Indexed])
        );
        // `errors: false` does not overrule a failed item either.
        let r = reply(r#"{"errors":false,"items":[{"create":{"status":503}}]}"#);
        assert!(
            matches!(&classify(&r, 1), Verdict::Items(o) if matches!(o[0], ItemOutcome::Retry(_)))
        );
    }

    #[test]
    fn too_few_or_too_many_items_retry_the_whole_request() {
        let r = reply(r#"{"errors":false,"items":[{"create":{"status":201}}]}"#);
        for sent in [0, 2, 5] {
            assert!(matches!(
                classify(&r, sent),
                Verdict::Retry { cause: RetryCause::BadResponse, ref message } if message.contains(&format!("1 items for {sent} sent"))
            ));
        }
        let empty = reply(r#"{"errors":false}"#);
        assert!(matches!(
            classify(&empty, 3),
            Verdict::Retry {
                cause: RetryCause::BadResponse,
                ..
            }
        ));
    }

    #[test]
    fn unreadable_answers_and_no_answer_are_retried() {
        assert!(matches!(
            classify(&BulkReply::Unreadable("expected value".into()), 3),
            Verdict::Retry { cause: RetryCause::BadResponse, ref message } if message.contains("expected value")
        ));
        assert!(matches!(
            classify(&BulkReply::NoAnswer("connection reset".into()), 3),
            Verdict::Retry { cause: RetryCause::Connection, ref message } if message == "connection reset"
        ));
    }

    #[test]
    fn every_request_status_class_has_its_verdict() {
        assert!(matches!(
            classify(&status(401, "no"), 1),
            Verdict::Auth { status: 401, .. }
        ));
        assert!(matches!(
            classify(&status(403, "no"), 1),
            Verdict::Auth { status: 403, .. }
        ));
        assert!(matches!(
            classify(&status(413, "too big"), 1),
            Verdict::TooLarge { ref body } if body == "too big"
        ));
        assert!(matches!(
            classify(&status(429, "busy"), 1),
            Verdict::Retry {
                cause: RetryCause::Throttled,
                ..
            }
        ));
        for s in [500, 502, 503, 504] {
            assert!(matches!(
                classify(&status(s, ""), 1),
                Verdict::Retry {
                    cause: RetryCause::ServerError,
                    ..
                }
            ));
        }
        for s in [400, 404, 405, 501, 302] {
            assert!(matches!(
                classify(&status(s, "x"), 1),
                Verdict::Refused { status, .. } if status == s
            ));
        }
    }
}

//! S3 event notifications on an SQS queue (`trailscope forward --sqs-queue-url`): which log files
//! a message names, and the queue's calls (receive with long polling, delete, extend the
//! visibility timeout).
//!
//! A message body is one of three shapes, told apart by their members (never by their text):
//! - an S3 event notification, `{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket":
//!   {"name": ...}, "object": {"key": ...}}}]}`, whose keys are URL-encoded (a space is `+`);
//! - the same inside an SNS envelope, `{"Type": "Notification", "Message": "<the JSON above as a
//!   string>"}`, when the bucket notifies an SNS topic the queue subscribes to;
//! - CloudTrail's own SNS notification, `{"s3Bucket": ..., "s3ObjectKey": [...]}` (keys as they
//!   are, not encoded), also inside an SNS envelope unless the subscription delivers raw messages.
//!
//! S3 sends `{"Event": "s3:TestEvent", ...}` when a notification is configured: nothing to read.

use super::aws_error::{AwsError, AwsFailure};
use aws_sdk_sqs::Client;
use serde::Deserialize;
use std::time::Duration;

/// One S3 object a message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// Decoded: the object's real key.
    pub key: String,
}

impl ObjectRef {
    /// The name an object is given in origins and dead letters (as `ingest s3://` names it).
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Log files to read (a notification may name several).
    Objects(Vec<ObjectRef>),
    /// S3's `s3:TestEvent`, or S3 records of events other than an object created (a removal):
    /// nothing to read.
    Nothing(&'static str),
}

/// Why a message names nothing trailscope can read.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the message is not JSON ({0}): not an S3 event notification")]
    NotJson(serde_json::Error),
    #[error(
        "the SNS notification's Message is not JSON ({0}): not an S3 event or CloudTrail \
         notification"
    )]
    SnsMessageNotJson(serde_json::Error),
    #[error(
        "a JSON message of an unknown shape: neither an S3 event notification (Records[].s3), \
         CloudTrail's notification (s3Bucket, s3ObjectKey), nor either inside an SNS envelope \
         (Type: Notification)"
    )]
    UnknownShape,
    #[error("an S3 event record without {0}: not an S3 event notification")]
    MissingMember(&'static str),
}

impl MessageError {
    /// A short stable name for dead letters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageError::NotJson(_) | MessageError::SnsMessageNotJson(_) => "message_not_json",
            MessageError::UnknownShape | MessageError::MissingMember(_) => "unknown_message",
        }
    }
}

/// Every member any of the shapes has; which are present tells the shape.
#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    #[serde(rename = "Message")]
    sns_message: Option<String>,
    #[serde(rename = "Records")]
    records: Option<Vec<S3Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "s3Bucket")]
    s3_bucket: Option<String>,
    #[serde(rename = "s3ObjectKey")]
    s3_object_key: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Option<Named>,
    object: Option<Key>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Key {
    key: String,
}

/// What a message body asks for.
pub fn parse(body: &str) -> Result<Notice, MessageError> {
    let outer: Body = serde_json::from_str(body).map_err(MessageError::NotJson)?;
    if outer.sns_type.as_deref() == Some("Notification") {
        if let Some(message) = &outer.sns_message {
            let inner: Body =
                serde_json::from_str(message).map_err(MessageError::SnsMessageNotJson)?;
            return parse_unwrapped(inner);
        }
    }
    parse_unwrapped(outer)
}

fn parse_unwrapped(body: Body) -> Result<Notice, MessageError> {
    if let (Some(bucket), Some(keys)) = (body.s3_bucket, body.s3_object_key) {
        return Ok(Notice::Objects(
            keys.into_iter()
                .map(|key| ObjectRef {
                    bucket: bucket.clone(),
                    key,
                })
                .collect(),
        ));
    }
    if body.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Notice::Nothing("s3:TestEvent"));
    }
    let Some(records) = body.records else {
        return Err(MessageError::UnknownShape);
    };
    let mut objects = Vec::new();
    for record in records {
        let s3 = record.s3.ok_or(MessageError::MissingMember("s3"))?;
        // Removals and other events name objects that are not new log files.
        if !record
            .event_name
            .as_deref()
            .is_some_and(|e| e.starts_with("ObjectCreated:"))
        {
            continue;
        }
        let bucket = s3.bucket.ok_or(MessageError::MissingMember("s3.bucket"))?;
        let object = s3.object.ok_or(MessageError::MissingMember("s3.object"))?;
        objects.push(ObjectRef {
            bucket: bucket.name,
            key: decode_key(&object.key),
        });
    }
    if objects.is_empty() {
        return Ok(Notice::Nothing("no ObjectCreated record"));
    }
    Ok(Notice::Objects(objects))
}

/// S3 event notifications URL-encode keys as a form does: `+` for a space, `%XX` for the rest
/// (a `+` of the key itself is `%2B`).
fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether an object named in a notification is a CloudTrail log file to read: digest files
/// (`CloudTrail-Digest/`) and folder markers are not, when the notification's filter lets them
/// through.
pub fn is_log_file(key: &str) -> bool {
    !key.ends_with('/') && !key.split('/').any(|part| part == "CloudTrail-Digest")
}

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error(
        "the SQS queue {queue} does not exist at {endpoint}: check --sqs-queue-url (copy the \
         queue's URL from the console or `aws sqs get-queue-url`), --region and --endpoint-url"
    )]
    NoSuchQueue { queue: String, endpoint: String },
    #[error("cannot {action} on the SQS queue {queue}: {error}")]
    Call {
        action: &'static str,
        queue: String,
        error: AwsError,
    },
}

impl SqsError {
    /// What kind of AWS failure it was (for the exit code).
    pub fn aws_failure(&self) -> AwsFailure {
        match self {
            SqsError::NoSuchQueue { .. } => AwsFailure::Configuration,
            SqsError::Call { error, .. } => error.kind,
        }
    }
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// The queue the notifications arrive on.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    pub url: String,
    /// Where the calls go, for messages.
    pub endpoint: String,
}

/// Each SQS operation has its own error type, each with its own test for a missing queue: one
/// name for them, so that [`Queue::error`] tells a missing queue apart for every call alike.
trait QueueMissing {
    fn queue_missing(&self) -> bool;
}

macro_rules! queue_missing {
    ($($error:ty),*) => {$(
        impl QueueMissing for $error {
            fn queue_missing(&self) -> bool {
                self.is_queue_does_not_exist()
            }
        }
    )*};
}

queue_missing!(
    aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError,
    aws_sdk_sqs::operation::receive_message::ReceiveMessageError,
    aws_sdk_sqs::operation::delete_message::DeleteMessageError,
    aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError
);

impl Queue {
    pub fn new(config: &aws_types::SdkConfig, url: &str, endpoint: &str) -> Queue {
        Queue {
            client: Client::new(config),
            url: url.to_owned(),
            endpoint: endpoint.to_owned(),
        }
    }

    fn error<E>(
        &self,
        action: &'static str,
        e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
    ) -> SqsError
    where
        E: QueueMissing + aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        if e.as_service_error()
            .is_some_and(QueueMissing::queue_missing)
        {
            return SqsError::NoSuchQueue {
                queue: self.url.clone(),
                endpoint: self.endpoint.clone(),
            };
        }
        SqsError::Call {
            action,
            queue: self.url.clone(),
            error: AwsError::from_sdk(e, "SQS", &self.endpoint),
        }
    }

    /// At start: the queue exists and these credentials may read it (GetQueueAttributes).
    pub async fn check(&self) -> Result<(), SqsError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| self.error("read the attributes", &e))?;
        Ok(())
    }

    /// Up to `max` (1-10) messages, waiting up to `wait` (at most 20 s) for one (long polling);
    /// each stays invisible to other readers for `visibility`.
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, SqsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map_err(|e| self.error("receive messages", &e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Received {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The message is done with: it is never delivered again.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), SqsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| self.error("delete a message", &e))?;
        Ok(())
    }

    /// Keeps a message invisible for `visibility` from now (its read is still in progress).
    pub async fn extend(&self, receipt_handle: &str, visibility: Duration) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map_err(|e| self.error("extend a message's visibility timeout", &e))?;
        Ok(())
    }
}

/// SQS takes whole seconds, at most 12 hours.
fn seconds(d: Duration) -> i32 {
    d.as_secs().clamp(0, 43_200) as i32
}

/// The region in an AWS queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`), so that a
/// queue URL alone is enough.
pub fn region_of(queue_url: &str) -> Option<String> {
    let host = url::Url::parse(queue_url).ok()?.host_str()?.to_owned();
    let rest = host.strip_prefix("sqs.")?;
    let (region, domain) = rest.split_once('.')?;
    domain.starts_with("amazonaws.").then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(body: &str) -> Vec<ObjectRef> {
        match parse(body).unwrap() {
            Notice::Objects(o) => o,
            other => panic!("{other:?}"),
        }
    }

    const S3_EVENT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
        "eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"trail"},
        "object":{"key":"AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/a+b%2Bc%3D.json.gz",
        "size":10}}}]}"#;

    #[test]
    fn an_s3_event_names_its_objects_with_decoded_keys() {
        assert_eq!(
            objects(S3_EVENT),
            [ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/a b+c=.json.gz".into()
            }]
        );
    }

    #[test]
    fn the_same_inside_an_sns_envelope() {
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:111111111111:t",
            "Message": S3_EVENT,
        })
        .to_string();
        assert_eq!(objects(&envelope), objects(S3_EVENT));
    }

    #[test]
    fn cloudtrails_own_notification_keys_are_not_encoded() {
        let raw = r#"{"s3Bucket":"trail","s3ObjectKey":["AWSLogs/1/CloudTrail/x/a+b.json.gz",
            "AWSLogs/1/CloudTrail/x/c.json.gz"]}"#;
        let keys: Vec<_> = objects(raw).into_iter().map(|o| o.key).collect();
        assert_eq!(
            keys,
            [
                "AWSLogs/1/CloudTrail/x/a+b.json.gz",
                "AWSLogs/1/CloudTrail/x/c.json.gz"
            ]
        );
        let wrapped = serde_json::json!({"Type": "Notification", "Message": raw}).to_string();
        assert_eq!(objects(&wrapped).len(), 2);
    }

    #[test]
    fn test_events_and_removals_name_nothing() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-01T00:00:00Z",
            "Bucket":"trail","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse(test).unwrap(), Notice::Nothing("s3:TestEvent"));
        let removed = S3_EVENT.replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert!(matches!(parse(&removed).unwrap(), Notice::Nothing(_)));
    }

    #[test]
    fn other_messages_are_errors_with_a_kind() {
        let e = parse("hello").unwrap_err();
        assert_eq!(e.kind(), "message_not_json");
        let e = parse(r#"{"hello": "world"}"#).unwrap_err();
        assert_eq!(e.kind(), "unknown_message");
        let e = parse(r#"{"Type":"Notification","Message":"not json"}"#).unwrap_err();
        assert_eq!(e.kind(), "message_not_json");
        let e = parse(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#).unwrap_err();
        assert!(e.to_string().contains("without s3"), "{e}");
    }

    #[test]
    fn digests_and_folders_are_not_log_files() {
        assert!(is_log_file("AWSLogs/1/CloudTrail/r/2026/03/01/x.json.gz"));
        assert!(!is_log_file(
            "AWSLogs/1/CloudTrail-Digest/r/2026/03/01/x.json.gz"
        ));
        assert!(!is_log_file("AWSLogs/1/CloudTrail/r/2026/03/01/"));
    }

    #[test]
    fn the_region_comes_from_an_aws_queue_url() {
        assert_eq!(
            region_of("https://sqs.eu-west-1.amazonaws.com/111111111111/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:15000/123456789012/q"), None);
    }
}

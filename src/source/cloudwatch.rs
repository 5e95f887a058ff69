//! Reads log events from CloudWatch Logs with FilterLogEvents.

use super::{CloudWatchPosition, Origin, RawEvent};
use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;
use aws_sdk_cloudwatchlogs::Client;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("FilterLogEvents on log group {log_group} failed: {message}")]
    Filter { log_group: String, message: String },
    #[error("the pipeline stopped accepting events")]
    Closed,
}

/// A time window of a log group to read, both ends inclusive (milliseconds since the epoch).
/// `None` leaves that end open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// What one read of a window saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub pages: u64,
    pub events: u64,
}

/// Reads every event of `log_group` in `window`, following every nextToken (AWS may return empty
/// pages that still carry one), and sends each page's events down `tx` in order.
pub async fn read_window(
    client: &Client,
    log_group: &str,
    window: Window,
    filter_pattern: Option<&str>,
    tx: &mpsc::Sender<Vec<RawEvent>>,
) -> Result<ReadStats, SourceError> {
    let group: Arc<str> = Arc::from(log_group);
    let mut stats = ReadStats::default();
    let mut next_token: Option<String> = None;
    loop {
        let response = client
            .filter_log_events()
            .log_group_name(log_group)
            .set_start_time(window.start)
            .set_end_time(window.end)
            .set_filter_pattern(filter_pattern.map(str::to_owned))
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| SourceError::Filter {
                log_group: log_group.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        stats.pages += 1;
        let mut events = Vec::with_capacity(response.events().len());
        // Streams repeat across events: share one Arc per distinct name within a page.
        let mut last_stream: Option<Arc<str>> = None;
        for e in response.events() {
            let (Some(message), Some(timestamp)) = (e.message(), e.timestamp()) else {
                continue;
            };
            let stream = e.log_stream_name().unwrap_or_default();
            let log_stream = match &last_stream {
                Some(s) if &**s == stream => s.clone(),
                _ => {
                    let s: Arc<str> = Arc::from(stream);
                    last_stream = Some(s.clone());
                    s
                }
            };
            events.push(RawEvent {
                message: message.to_owned(),
                origin: Origin::CloudWatch(CloudWatchPosition {
                    log_group: group.clone(),
                    log_stream,
                    event_id: e.event_id().unwrap_or_default().to_owned(),
                    timestamp,
                    ingestion_time: e.ingestion_time(),
                }),
            });
        }
        stats.events += events.len() as u64;
        if !events.is_empty() {
            tx.send(events).await.map_err(|_| SourceError::Closed)?;
        }
        match response.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => return Ok(stats),
        }
    }
}

/// Builds a CloudWatch Logs client from the standard AWS configuration chain, with an optional
/// endpoint override (a local CloudWatch Logs API such as moto).
pub async fn client(endpoint_url: Option<&str>, region: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    Client::new(&loader.load().await)
}

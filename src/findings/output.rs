//! Where findings go besides their index: an NDJSON file (one finding per line) and a webhook
//! (one JSON POST per finding). Only findings written to the index for the first time are sent,
//! so a replay sends none again.

use super::finding::Finding;
use super::FindingsError;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Outputs {
    file: Option<PathBuf>,
    webhook: Option<Webhook>,
}

/// A receiver that gets each finding as a JSON POST, tried [`Webhook::ATTEMPTS`] times with
/// growing pauses. A receiver down for longer does not hold the events back: the finding is in
/// the index anyway, and the log says which one the receiver missed.
#[derive(Debug)]
pub struct Webhook {
    url: url::Url,
    client: reqwest::Client,
    first_delay: Duration,
}

impl Webhook {
    pub const ATTEMPTS: usize = 5;

    pub fn new(url: url::Url, timeout: Duration) -> Result<Self, FindingsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| FindingsError::Webhook {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        Ok(Webhook {
            url,
            client,
            first_delay: Duration::from_millis(200),
        })
    }

    /// Posts `finding`; `Err` with the last failure when every attempt failed.
    async fn post(&self, finding: &Finding) -> Result<(), String> {
        let body = serde_json::to_vec(finding).map_err(|e| e.to_string())?;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(Self::ATTEMPTS - 1)
            .build();
        loop {
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                // Another answer in 4xx will not change by asking again.
                Ok(r)
                    if r.status().is_client_error()
                        && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                        && r.status() != reqwest::StatusCode::REQUEST_TIMEOUT =>
                {
                    return Err(format!("HTTP {}", r.status()))
                }
                Ok(r) => format!("HTTP {}", r.status()),
                Err(e) => crate::sink::opensearch::error_chain(&e),
            };
            match delays.next() {
                Some(delay) => {
                    tracing::debug!(url = %self.url, "webhook failed ({failure}), retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(failure),
            }
        }
    }
}

impl Outputs {
    /// Posts each new finding to `webhook`.
    pub fn with_webhook(mut self, webhook: Webhook) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Appends findings to `path` (created when missing).
    pub fn with_file(mut self, path: PathBuf) -> Self {
        self.file = Some(path);
        self
    }

    /// Sends `findings` everywhere configured; a file is synced before this returns (the
    /// events are acknowledged after it).
    pub async fn write(&self, findings: &[Finding]) -> Result<(), FindingsError> {
        if findings.is_empty() {
            return Ok(());
        }
        if let Some(path) = &self.file {
            let mut text = Vec::new();
            for f in findings {
                serde_json::to_writer(&mut text, f).map_err(FindingsError::Encode)?;
                text.push(b'\n');
            }
            let path = path.clone();
            let display = path.display().to_string();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                file.write_all(&text)?;
                file.sync_data()
            })
            .await
            .map_err(|e| FindingsError::File {
                path: display.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
            .map_err(|source| FindingsError::File {
                path: display,
                source,
            })?;
        }
        if let Some(webhook) = &self.webhook {
            for f in findings {
                if let Err(last) = webhook.post(f).await {
                    tracing::error!(
                        url = %webhook.url,
                        id = %f.id(),
                        identity = %f.identity,
                        kind = f.kind.as_str(),
                        "the findings webhook refused a finding {} times (last: {last}); it is in \
                         the findings index",
                        Webhook::ATTEMPTS
                    );
                }
            }
        }
        Ok(())
    }
}

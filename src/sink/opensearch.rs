//! The OpenSearch client: connection, authentication, and the `_bulk` call.

use super::bulk::{BulkResponse, FILTER_PATH};
use crate::secret::Secret;
use bytes::Bytes;
use opensearch::http::headers::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::Method;
use opensearch::OpenSearch;
use std::time::Duration;
use url::Url;

/// How to reach OpenSearch.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub request_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot build an OpenSearch client for {url}: {message}")]
    Build { url: String, message: String },
    #[error("OpenSearch at {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },
    #[error("OpenSearch at {url} refused the credentials (HTTP {status}): check the user name and password")]
    Auth { url: String, status: u16 },
    #[error("OpenSearch at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
}

/// The client, with the URL kept for messages.
#[derive(Clone)]
pub struct Client {
    pub client: OpenSearch,
    pub url: Url,
}

impl Client {
    pub fn connect(options: &ConnectOptions) -> Result<Client, ConnectError> {
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(options.url.clone()))
            .timeout(options.request_timeout);
        if let Some(user) = &options.username {
            let password = options.password.as_ref().map(Secret::expose).unwrap_or("");
            builder = builder.auth(opensearch::auth::Credentials::Basic(
                user.clone(),
                password.to_owned(),
            ));
        }
        let transport = builder.build().map_err(|e| ConnectError::Build {
            url: options.url.to_string(),
            message: e.to_string(),
        })?;
        Ok(Client {
            client: OpenSearch::new(transport),
            url: options.url.clone(),
        })
    }

    /// Checks that the cluster answers and accepts our credentials; returns its version.
    pub async fn ping(&self) -> Result<String, ConnectError> {
        let response = self
            .client
            .send::<(), ()>(Method::Get, "/", HeaderMap::new(), None, None, None)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status_code().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                Ok(v["version"]["number"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_owned())
            }
            401 | 403 => Err(ConnectError::Auth {
                url: self.url.to_string(),
                status,
            }),
            _ => Err(ConnectError::Http {
                url: self.url.to_string(),
                status,
                body: truncate(&body, 500),
            }),
        }
    }

    pub fn unreachable(&self, e: opensearch::Error) -> ConnectError {
        ConnectError::Unreachable {
            url: self.url.to_string(),
            message: error_chain(&e),
        }
    }

    /// Posts one `_bulk` body (already gzipped when `gzip`).
    pub async fn bulk(&self, body: Bytes, gzip: bool) -> Result<BulkReply, opensearch::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let response = self
            .client
            .send(
                Method::Post,
                "/_bulk",
                headers,
                Some(&[("filter_path", FILTER_PATH)]),
                Some(body),
                None,
            )
            .await?;
        let status = response.status_code().as_u16();
        if status == 200 {
            let bytes = response.bytes().await?;
            Ok(match serde_json::from_slice::<BulkResponse>(&bytes) {
                Ok(parsed) => BulkReply::Items(parsed),
                Err(e) => BulkReply::Unreadable(format!(
                    "{e}: {}",
                    truncate(&String::from_utf8_lossy(&bytes), 300)
                )),
            })
        } else {
            let body = response.text().await.unwrap_or_default();
            Ok(BulkReply::Status {
                status,
                body: truncate(&body, 500),
            })
        }
    }
}

/// What a `_bulk` request got back.
#[derive(Debug)]
pub enum BulkReply {
    Items(BulkResponse),
    Status { status: u16, body: String },
    Unreadable(String),
}

/// An error with its causes, for one log line (`a: b: c`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

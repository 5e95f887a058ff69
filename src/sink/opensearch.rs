//! The OpenSearch client: connection, authentication, and the `_bulk` call.

use super::bulk::{BulkResponse, FILTER_PATH};
use crate::secret::Secret;
use crate::transport::{wire_failure, WireFailure};
use bytes::Bytes;
use opensearch::cert::{Certificate, CertificateValidation};
use opensearch::http::headers::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::Method;
use opensearch::OpenSearch;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// How to reach OpenSearch.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A file holding the password (first line; a trailing newline is not part of it). Exclusive
    /// with `password`.
    pub password_file: Option<PathBuf>,
    pub request_timeout: Duration,
    pub tls: TlsOptions,
    /// Sign requests with AWS SigV4 (Amazon OpenSearch Service / Serverless) instead of basic
    /// authentication.
    pub sigv4: Option<super::sigv4::SigV4>,
}

/// How the server's certificate is checked. By default against the system's trusted CAs, with
/// hostname verification.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// A PEM file of CA certificates trusted in addition to the default ones.
    pub ca_cert: Option<PathBuf>,
    /// No certificate or hostname verification at all (warned about at every start).
    pub insecure_skip_verify: bool,
}

/// Why [`Client::create_each`] wrote nothing, or not everything: told by each caller in its
/// own words.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The request was refused: its status and answer.
    #[error("HTTP {status}: {answer}")]
    Request {
        status: u16,
        answer: serde_json::Value,
    },
    /// The answer had not one item per document.
    #[error("no item per document in the answer")]
    Unreadable,
    /// One document was refused (not a 409).
    #[error("HTTP {status}: {error}")]
    Item {
        status: u16,
        error: serde_json::Value,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot build an OpenSearch client for {url}: {message}")]
    Build { url: String, message: String },
    #[error(
        "OpenSearch at {url} is unreachable: {message}: check that OpenSearch is running and \
         that --opensearch-url names its host and port"
    )]
    Unreachable { url: String, message: String },
    #[error("OpenSearch at {url} refused the credentials (HTTP {status}): check the user name and password")]
    Auth { url: String, status: u16 },
    #[error(
        "OpenSearch at {url} denied {what} (HTTP 403): {reason}: grant the user the missing \
         permission (`trailscope setup --print-roles` prints the roles trailscope needs)"
    )]
    Forbidden {
        url: String,
        what: String,
        reason: String,
    },
    #[error(
        "TLS connection to {url} failed: {message}: if the cluster's certificate is signed by \
         a private CA, pass it with --ca-cert FILE.pem"
    )]
    Tls { url: String, message: String },
    #[error("cannot read {what} {path}: {message}")]
    File {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "OpenSearch at {url}: this server does not speak TLS: use http:// instead of https:// \
         ({message})"
    )]
    NotTls { url: String, message: String },
    #[error("{url} does not answer as OpenSearch (GET / gave {answered}): check --opensearch-url")]
    NotOpenSearch { url: String, answered: String },
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
        let password = options.resolve_password()?;
        if let Some(user) = &options.username {
            if options.url.scheme() == "http" {
                tracing::warn!(
                    url = %options.url,
                    "sending the OpenSearch password over plain HTTP: use an https:// URL"
                );
            }
            let password = password.as_ref().map(Secret::expose).unwrap_or("");
            builder = builder.auth(opensearch::auth::Credentials::Basic(
                user.clone(),
                password.to_owned(),
            ));
        }
        if let Some(sigv4) = &options.sigv4 {
            if sigv4.region.is_empty() {
                return Err(ConnectError::Build {
                    url: options.url.to_string(),
                    message: "--aws-sigv4 needs the domain's region: --aws-sigv4-region or \
                              AWS_REGION"
                        .into(),
                });
            }
            builder = builder
                .auth(super::sigv4::credentials(sigv4))
                .service_name(&sigv4.service);
        }
        if options.tls.insecure_skip_verify {
            tracing::warn!(
                url = %options.url,
                "--insecure-skip-tls-verify: the certificate of OpenSearch is NOT verified; anyone \
                 on the path can read and change what trailscope sends, password included"
            );
            builder = builder.cert_validation(CertificateValidation::None);
        } else if let Some(path) = &options.tls.ca_cert {
            let file_error = |message: String| ConnectError::File {
                what: "the CA certificate (--ca-cert)",
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| file_error(error_chain(&e)))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
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

    /// Checks that the cluster answers and accepts our credentials; returns its version. What
    /// answers without OpenSearch's own reply (`version.number`) is named: status, Server header,
    /// first bytes.
    pub async fn ping(&self) -> Result<String, ConnectError> {
        let call = self
            .client
            .send::<(), ()>(Method::Get, "/", HeaderMap::new(), None, None, None);
        let response = crate::logging::warn_if_slow(call, SLOW_CALL, || {
            format!(
                "still waiting for OpenSearch at {} to answer GET /",
                self.url
            )
        })
        .await
        .map_err(|e| self.unreachable(e))?;
        let status = response.status_code().as_u16();
        let server = response
            .headers()
            .get("server")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let answered = || {
            let mut out = format!("HTTP {status}");
            if let Some(server) = &server {
                out.push_str(&format!(", Server: {server}"));
            }
            let start = body.split_whitespace().collect::<Vec<_>>().join(" ");
            match start.is_empty() {
                true => out.push_str(", empty body"),
                false => out.push_str(&format!(", body: {}", truncate(&start, 120))),
            }
            out
        };
        match status {
            200..=299 => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                match v["version"]["number"].as_str() {
                    Some(version) => Ok(version.to_owned()),
                    None => Err(ConnectError::NotOpenSearch {
                        url: self.url.to_string(),
                        answered: answered(),
                    }),
                }
            }
            401 | 403 => Err(self.refused(
                status,
                "GET / (cluster:monitor/main)",
                &serde_json::from_str(&body).unwrap_or_default(),
            )),
            // OpenSearch answers GET / (or refuses it): a page not found is something else.
            404 | 405 => Err(ConnectError::NotOpenSearch {
                url: self.url.to_string(),
                answered: answered(),
            }),
            _ => Err(ConnectError::Http {
                url: self.url.to_string(),
                status,
                body: truncate(&body, 500),
            }),
        }
    }

    pub fn unreachable(&self, e: opensearch::Error) -> ConnectError {
        let message = error_chain(&e);
        let url = self.url.to_string();
        match wire_failure(&e) {
            WireFailure::NotTls => ConnectError::NotTls { url, message },
            WireFailure::Tls => ConnectError::Tls { url, message },
            WireFailure::Network => ConnectError::Unreachable { url, message },
        }
    }

    /// The error for a 401/403 answer to `what` (e.g. "installing index template X"): the
    /// security plugin's reason names the missing permission.
    pub fn refused(&self, status: u16, what: &str, body: &serde_json::Value) -> ConnectError {
        if status == 401 {
            return ConnectError::Auth {
                url: self.url.to_string(),
                status,
            };
        }
        let reason = body["error"]["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| truncate(&body.to_string(), 500));
        ConnectError::Forbidden {
            url: self.url.to_string(),
            what: what.to_owned(),
            reason,
        }
    }

    /// A request with a JSON body (or none); returns the status and the answer parsed (an
    /// answer that is not JSON comes back as a string, cut short). The one way setup, retention,
    /// audit and the checkpoint index talk to the cluster.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), ConnectError> {
        let response = self
            .client
            .send::<String, _>(
                method,
                path,
                HeaderMap::new(),
                Some(query),
                body.map(serde_json::Value::to_string),
                None,
            )
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status_code().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| serde_json::Value::String(truncate(&text, 500)));
        Ok((status, value))
    }

    /// Creates `index` with `body` (settings and mapping) unless it exists: `None` when it
    /// exists afterwards, else the refusal (status and answer) for the caller to name. A HEAD
    /// first, so that a user allowed to write but not to create an existing index passes.
    pub async fn ensure_index(
        &self,
        index: &str,
        body: &serde_json::Value,
    ) -> Result<Option<(u16, serde_json::Value)>, ConnectError> {
        let path = format!("/{index}");
        let (status, _) = self.json(Method::Head, &path, &[], None).await?;
        if status == 200 {
            return Ok(None);
        }
        let (status, answer) = self.json(Method::Put, &path, &[], Some(body)).await?;
        // Another process may have created it in between: then it exists, as wanted.
        let exists = answer["error"]["type"].as_str() == Some("resource_already_exists_exception");
        Ok((status != 200 && !exists).then_some((status, answer)))
    }

    /// Writes `docs` (`_id`, JSON document) into `index` with `create`, in one `_bulk`: for
    /// each, whether this call created it (false: the id was there, 409, e.g. a replay). For the
    /// small indices of trailscope's own (findings, lineage), whose documents are written once.
    pub async fn create_each(
        &self,
        index: &str,
        docs: &[(&str, String)],
    ) -> Result<Vec<bool>, CreateError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = String::new();
        for (id, doc) in docs {
            body.push_str(&serde_json::json!({"create": {"_index": index, "_id": id}}).to_string());
            body.push('\n');
            body.push_str(doc);
            body.push('\n');
        }
        let (status, answer) = self.ndjson("/_bulk", body).await?;
        if status != 200 {
            return Err(CreateError::Request { status, answer });
        }
        let items = answer["items"].as_array().filter(|i| i.len() == docs.len());
        let items = items.ok_or(CreateError::Unreadable)?;
        items
            .iter()
            .map(|item| match item["create"]["status"].as_u64() {
                Some(201) => Ok(true),
                Some(409) => Ok(false),
                status => Err(CreateError::Item {
                    status: status.unwrap_or(0) as u16,
                    error: item["create"]["error"].clone(),
                }),
            })
            .collect()
    }

    /// A POST with an NDJSON body (`_msearch`, a small `_bulk`), the answer parsed as
    /// [`Client::json`] does.
    pub async fn ndjson(
        &self,
        path: &str,
        body: String,
    ) -> Result<(u16, serde_json::Value), ConnectError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let response = self
            .client
            .send::<String, ()>(Method::Post, path, headers, None, Some(body), None)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status_code().as_u16();
        let text = response.text().await.map_err(|e| self.unreachable(e))?;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| serde_json::Value::String(truncate(&text, 500)));
        Ok((status, value))
    }

    /// Posts one `_bulk` body (already gzipped when `gzip`). Every way it can end is a
    /// [`BulkReply`] (a failed connection too), for `classify` to judge.
    pub async fn bulk(&self, body: Bytes, gzip: bool) -> BulkReply {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let response = match self
            .client
            .send(
                Method::Post,
                "/_bulk",
                headers,
                Some(&[("filter_path", FILTER_PATH)]),
                Some(body),
                None,
            )
            .await
        {
            Ok(response) => response,
            Err(e) => return BulkReply::NoAnswer(error_chain(&e)),
        };
        let status = response.status_code().as_u16();
        if status != 200 {
            // The status decides; the body only explains, and may be cut short.
            let body = response.text().await.unwrap_or_default();
            return BulkReply::Status {
                status,
                body: truncate(&body, 500),
            };
        }
        // The request timeout covers reading the body too: an answer that never ends is a
        // failed request after that long, not a hang.
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                return BulkReply::NoAnswer(format!(
                    "the answer (HTTP 200) broke off: {}",
                    error_chain(&e)
                ))
            }
        };
        match serde_json::from_slice::<BulkResponse>(&bytes) {
            Ok(parsed) => BulkReply::Items(parsed),
            Err(e) => BulkReply::Unreadable(format!(
                "{e}: {}",
                truncate(&String::from_utf8_lossy(&bytes), 300)
            )),
        }
    }
}

impl ConnectOptions {
    /// The password: from `password` (the environment) or read from `password_file`.
    fn resolve_password(&self) -> Result<Option<Secret>, ConnectError> {
        let Some(path) = &self.password_file else {
            return Ok(self.password.clone());
        };
        let file_error = |message: String| ConnectError::File {
            what: "the password file (--opensearch-password-file)",
            path: path.display().to_string(),
            message,
        };
        if self.password.is_some() {
            return Err(file_error(
                "TRAILSCOPE_OPENSEARCH_PASSWORD is set too: give the password one way only".into(),
            ));
        }
        // The error of a failed read never quotes the content.
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let password = text.lines().next().unwrap_or("");
        if password.is_empty() {
            return Err(file_error("the file is empty".into()));
        }
        Ok(Some(Secret::new(password)))
    }
}

/// After this long without an answer to the connection check, say it is still awaited.
const SLOW_CALL: Duration = Duration::from_secs(5);

/// What a `_bulk` request got back.
#[derive(Debug)]
pub enum BulkReply {
    /// HTTP 200 with a readable body.
    Items(BulkResponse),
    /// Any other HTTP status, with the start of the body.
    Status { status: u16, body: String },
    /// HTTP 200 with a body that is not a bulk response.
    Unreadable(String),
    /// No complete answer: connection refused or cut, timeout (the request's or the body's), TLS.
    NoAnswer(String),
}

/// An error with its causes, for one log line (`a: b: c`).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::transport::chain_text(e)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(password: Option<&str>, file: Option<PathBuf>) -> ConnectOptions {
        ConnectOptions {
            url: "https://localhost:9200".parse().unwrap(),
            username: Some("writer".into()),
            password: password.map(Secret::new),
            password_file: file,
            request_timeout: Duration::from_secs(5),
            tls: TlsOptions::default(),
            sigv4: None,
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let o = options(Some("Canary-debug-Pw9!"), None);
        let text = format!("{o:?} {o:#?}");
        assert!(!text.contains("Canary-debug"), "{text}");
        assert!(text.contains("writer"), "{text}");
    }

    #[test]
    fn the_password_file_gives_its_first_line_and_errors_never_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "Canary-file-Pw9!\r\nsecond line\n").unwrap();
        let got = options(None, Some(file.clone()))
            .resolve_password()
            .unwrap();
        assert_eq!(got.unwrap().expose(), "Canary-file-Pw9!");

        let both = options(Some("Canary-env-Pw9!"), Some(file.clone()))
            .resolve_password()
            .unwrap_err();
        let text = format!("{both} {both:?}");
        assert!(text.contains("give the password one way only"), "{text}");
        assert!(!text.contains("Canary"), "{text}");

        std::fs::write(&file, "\n").unwrap();
        let empty = options(None, Some(file)).resolve_password().unwrap_err();
        assert!(empty.to_string().contains("the file is empty"), "{empty}");
    }
}

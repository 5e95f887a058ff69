//! OpenSearch Dashboards: the shipped saved objects (`dashboards/trailscope.ndjson`: index pattern,
//! visualizations, saved search, dashboards) and the client that imports them through
//! `POST /api/saved_objects/_import?overwrite=true`. Ids are stable, so a re-import overwrites.

use super::OpenSearchArgs;
use crate::secret::Secret;
use crate::sink::opensearch::{error_chain, truncate, Client, ConnectOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use opensearch::http::headers::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use opensearch::http::Method;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;
use url::Url;

/// The saved objects, one JSON object a line.
pub const SAVED_OBJECTS: &str = include_str!("../../dashboards/trailscope.ndjson");
/// The id of the shipped index pattern (title `cloudtrail-*`, rewritten for another prefix).
pub const INDEX_PATTERN_ID: &str = "trailscope-cloudtrail";

/// Where OpenSearch Dashboards is, for `setup`.
#[derive(Debug, Clone, Args)]
pub struct DashboardsArgs {
    /// OpenSearch Dashboards URL, e.g. http://127.0.0.1:5601 (on Amazon OpenSearch Service:
    /// https://DOMAIN/_dashboards). When given, `setup` imports the index pattern,
    /// visualizations and dashboards, overwriting the ones an earlier setup imported.
    #[arg(long, env = "TRAILSCOPE_DASHBOARDS_URL")]
    pub dashboards_url: Option<Url>,
    /// User name for OpenSearch Dashboards (the password comes from
    /// TRAILSCOPE_DASHBOARDS_PASSWORD). By default the OpenSearch user name and password.
    #[arg(long, env = "TRAILSCOPE_DASHBOARDS_USERNAME")]
    pub dashboards_username: Option<String>,
}

impl DashboardsArgs {
    /// How to reach Dashboards, or `None` when no URL was given.
    pub fn connect_options(&self, opensearch: &OpenSearchArgs) -> Option<ConnectOptions> {
        let url = self.dashboards_url.clone()?;
        let os = opensearch.connect_options();
        let (username, password, password_file) = match &self.dashboards_username {
            Some(user) => (
                Some(user.clone()),
                std::env::var("TRAILSCOPE_DASHBOARDS_PASSWORD")
                    .ok()
                    .map(Secret::new),
                None,
            ),
            None => (os.username, os.password, os.password_file),
        };
        Some(ConnectOptions {
            url,
            username,
            password,
            password_file,
            request_timeout: Duration::from_secs(opensearch.request_timeout_secs),
            // Dashboards' certificate: the same CA options as OpenSearch's.
            tls: os.tls,
            // Amazon OpenSearch Service signs Dashboards requests for the `es` service too.
            sigv4: os.sigv4,
        })
    }
}

/// The saved objects for an index prefix: the index pattern's title becomes `<prefix>*`.
pub fn saved_objects_for(prefix: &str) -> Result<String> {
    let mut out = String::with_capacity(SAVED_OBJECTS.len());
    for (n, line) in SAVED_OBJECTS.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut object: Value = serde_json::from_str(line)
            .with_context(|| format!("shipped saved object on line {} is not JSON", n + 1))?;
        if object["type"] == "index-pattern" && object["id"] == INDEX_PATTERN_ID {
            object["attributes"]["title"] = Value::String(format!("{prefix}*"));
        }
        out.push_str(&object.to_string());
        out.push('\n');
    }
    Ok(out)
}

/// A `multipart/form-data` body with one file part named `file`, as `_import` expects.
pub fn multipart_body(boundary: &str, filename: &str, content: &str) -> Vec<u8> {
    let mut body = String::with_capacity(content.len() + 256);
    let _ = write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/ndjson\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    body.into_bytes()
}

/// Reads `_import`'s answer: the number of objects imported, or an error that says what to do
/// and lists each object that failed with its reason.
pub fn import_outcome(url: &Url, status: u16, body: &Value) -> Result<u64> {
    match status {
        200 => {}
        401 | 403 => bail!(
            "OpenSearch Dashboards at {url} refused the credentials (HTTP {status}): check \
             --dashboards-username and TRAILSCOPE_DASHBOARDS_PASSWORD (by default the OpenSearch \
             user and password are used)"
        ),
        404 | 400 if status == 404 || body.to_string().contains("no handler found") => bail!(
            "{url} has no saved objects API (HTTP {status}): is it OpenSearch Dashboards rather \
             than OpenSearch? On Amazon OpenSearch Service the URL ends with /_dashboards. Answer: {}",
            truncate(&body.to_string(), 300)
        ),
        _ => bail!(
            "importing saved objects into OpenSearch Dashboards at {url} failed with HTTP {status}: {}",
            truncate(&body.to_string(), 500)
        ),
    }
    let imported = body["successCount"].as_u64().unwrap_or(0);
    if body["success"].as_bool() == Some(true) {
        return Ok(imported);
    }
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    if errors.is_empty() {
        bail!(
            "OpenSearch Dashboards at {url} did not confirm the import: {}",
            truncate(&body.to_string(), 500)
        );
    }
    let mut message = format!(
        "OpenSearch Dashboards at {url} imported {imported} saved objects and refused {}:",
        errors.len()
    );
    for e in &errors {
        let kind = e["error"]["type"].as_str().unwrap_or("unknown");
        let _ = write!(
            message,
            "\n  {} {} ({}): {kind}",
            e["type"].as_str().unwrap_or("?"),
            e["id"].as_str().unwrap_or("?"),
            e["title"].as_str().unwrap_or("untitled"),
        );
        if let Some(refs) = e["error"]["references"].as_array() {
            let missing: Vec<String> = refs
                .iter()
                .map(|r| format!("{} {}", r["type"].as_str().unwrap_or("?"), r["id"]))
                .collect();
            let _ = write!(message, ", missing references: {}", missing.join(", "));
        }
        if let Some(m) = e["error"]["message"].as_str() {
            let _ = write!(message, ", {m}");
        }
    }
    bail!(message)
}

/// Imports the saved objects with overwrite; returns how many were imported.
pub async fn import(options: &ConnectOptions, prefix: &str) -> Result<u64> {
    let client = Client::connect(options)?;
    let boundary = format!(
        "trailscope-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let body = multipart_body(&boundary, "trailscope.ndjson", &saved_objects_for(prefix)?);
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))?,
    );
    // Dashboards refuses state-changing API calls without it.
    headers.insert(
        HeaderName::from_static("osd-xsrf"),
        HeaderValue::from_static("true"),
    );
    let response = client
        .client
        .send(
            Method::Post,
            "/api/saved_objects/_import",
            headers,
            Some(&[("overwrite", "true")]),
            Some(body),
            None,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "OpenSearch Dashboards at {} is unreachable: {}",
                options.url,
                error_chain(&e)
            )
        })?;
    let status = response.status_code().as_u16();
    let text = response.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(truncate(&text, 500)));
    import_outcome(&options.url, status, &value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_index_pattern_follows_the_prefix_and_nothing_else_changes() {
        let rewritten = saved_objects_for("audit-").unwrap();
        assert_eq!(rewritten.lines().count(), SAVED_OBJECTS.lines().count());
        let pattern: Value = rewritten
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|o| o["id"] == INDEX_PATTERN_ID)
            .unwrap();
        assert_eq!(pattern["attributes"]["title"], "audit-*");
        assert_eq!(pattern["attributes"]["timeFieldName"], "@timestamp");
        for (a, b) in rewritten.lines().zip(SAVED_OBJECTS.lines()) {
            let (a, b): (Value, Value) = (
                serde_json::from_str(a).unwrap(),
                serde_json::from_str(b).unwrap(),
            );
            if a["id"] != INDEX_PATTERN_ID {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn the_multipart_body_carries_the_file_between_boundaries() {
        let body = String::from_utf8(multipart_body("XyZ", "t.ndjson", "{\"a\":1}\n")).unwrap();
        assert!(body.starts_with(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.ndjson\"\r\n"
        ));
        assert!(body.contains("\r\n\r\n{\"a\":1}\n\r\n--XyZ--\r\n"));
    }

    #[test]
    fn import_errors_are_listed_per_object() {
        let url = Url::parse("http://dashboards:5601").unwrap();
        let body = json!({
            "success": false,
            "successCount": 19,
            "errors": [
                {"id": "trailscope-overview", "type": "dashboard", "title": "CloudTrail overview",
                 "error": {"type": "conflict"}},
                {"id": "trailscope-summary", "type": "visualization", "title": "CloudTrail: summary",
                 "error": {"type": "missing_references",
                           "references": [{"type": "index-pattern", "id": "trailscope-cloudtrail"}]}}
            ]
        });
        let message = import_outcome(&url, 200, &body).unwrap_err().to_string();
        assert!(
            message.contains("imported 19 saved objects and refused 2"),
            "{message}"
        );
        assert!(
            message.contains("dashboard trailscope-overview (CloudTrail overview): conflict"),
            "{message}"
        );
        assert!(
            message.contains(
                "missing_references, missing references: index-pattern \"trailscope-cloudtrail\""
            ),
            "{message}"
        );
        assert_eq!(
            import_outcome(&url, 200, &json!({"success": true, "successCount": 21})).unwrap(),
            21
        );
        let auth = import_outcome(&url, 401, &json!({}))
            .unwrap_err()
            .to_string();
        assert!(auth.contains("refused the credentials"), "{auth}");
    }
}

//! `trailscope setup`: installs the index template (and the ISM retention policy where the
//! cluster has ISM), idempotently. `forward` checks the template at start.

use super::OpenSearchArgs;
use crate::sink::opensearch::Client;
use anyhow::{bail, Context, Result};
use clap::Args;
use opensearch::http::Method;
use serde_json::{json, Value};

/// The shipped template; `index_patterns` is rewritten for the configured prefix.
pub const INDEX_TEMPLATE: &str = include_str!("../../mappings/index-template.json");
/// The shipped ISM policy; the retention age and pattern are rewritten from the flags.
pub const ISM_POLICY: &str = include_str!("../../mappings/ism-policy.json");
/// The least-privilege roles, in the security plugin's REST format
/// (`PUT _plugins/_security/api/roles/<name>`).
pub const WRITER_ROLE: &str = include_str!("../../deploy/opensearch-roles/trailscope_writer.json");
pub const ADMIN_ROLE: &str = include_str!("../../deploy/opensearch-roles/trailscope_admin.json");

#[derive(Debug, Clone, Args)]
// --print-roles needs no cluster, so the URL is checked in `run` rather than by clap. (Not
// `exclusive`: that refuses --print-roles whenever TRAILSCOPE_OPENSEARCH_URL is set; nor
// `required_unless_present`: that ignores a URL from the configuration file.)
#[command(mut_arg("opensearch_url", |a| a.required(false)))]
pub struct SetupArgs {
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    #[arg(long, default_value = "cloudtrail-", env = "TRAILSCOPE_INDEX_PREFIX")]
    pub index_prefix: String,
    /// Days to keep an index (ISM policy; see `trailscope retention` where ISM is absent).
    #[arg(long, default_value_t = 90)]
    pub retention_days: u32,
    #[command(flatten)]
    pub dashboards: super::dashboards::DashboardsArgs,
    /// Print the OpenSearch security roles trailscope needs (trailscope_writer for forward,
    /// ingest and lambda; trailscope_admin for setup) as `curl` commands, and exit. Given
    /// alone: it needs no URL and contacts nothing.
    #[arg(long)]
    pub print_roles: bool,
}

/// The two roles as commands for the security REST API.
pub fn print_roles() -> String {
    let mut out = String::from(
        "# trailscope's OpenSearch security roles (also in deploy/opensearch-roles/).\n\
         # trailscope_writer: forward, ingest and lambda. trailscope_admin: setup.\n\
         # Create them as an administrator, then map users to them\n\
         # (PUT _plugins/_security/api/rolesmapping/<role> {\"users\": [\"...\"]}).\n",
    );
    for (name, body) in [
        ("trailscope_writer", WRITER_ROLE),
        ("trailscope_admin", ADMIN_ROLE),
    ] {
        out.push_str(&format!(
            "\ncurl -u ADMIN --cacert root-ca.pem -X PUT \"$OPENSEARCH_URL/_plugins/_security/api/roles/{name}\" \\\n  -H 'Content-Type: application/json' --data-binary @- <<'EOF'\n{}\nEOF\n",
            body.trim_end()
        ));
    }
    out
}

/// The template's name for an index prefix.
pub fn template_name(prefix: &str) -> String {
    format!("trailscope-{}", prefix.trim_end_matches(['-', '_', '.']))
}

/// The template body for an index prefix.
pub fn template_for(prefix: &str) -> Value {
    let mut t: Value = serde_json::from_str(INDEX_TEMPLATE).expect("shipped template is JSON");
    t["index_patterns"] = json!([format!("{prefix}*")]);
    t
}

fn template_version(t: &Value) -> Option<u64> {
    t["_meta"]["trailscope_template_version"].as_u64()
}

/// What the cluster holds of our template.
#[derive(Debug, PartialEq, Eq)]
pub enum TemplateState {
    Missing,
    Outdated { installed: Option<u64> },
    Current,
}

async fn request(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    Ok(client.json(method, path, &[], body).await?)
}

pub async fn template_state(client: &Client, prefix: &str) -> Result<TemplateState> {
    let name = template_name(prefix);
    let (status, body) = request(
        client,
        Method::Get,
        &format!("/_index_template/{name}"),
        None,
    )
    .await?;
    match status {
        404 => Ok(TemplateState::Missing),
        200 => {
            let installed = body["index_templates"][0]["index_template"].clone();
            let shipped = template_version(&template_for(prefix));
            let have = template_version(&installed);
            Ok(if have == shipped {
                TemplateState::Current
            } else {
                TemplateState::Outdated { installed: have }
            })
        }
        401 | 403 => Err(client
            .refused(status, &format!("reading index template {name}"), &body)
            .into()),
        _ => bail!("reading index template {name} failed with HTTP {status}: {body}"),
    }
}

pub async fn run(args: SetupArgs) -> Result<()> {
    if args.print_roles {
        crate::out!("{}", print_roles());
        return Ok(());
    }
    if args.opensearch.opensearch_url.is_none() {
        return Err(crate::exit::UsageError(
            "the following required argument was not provided: --opensearch-url <URL> (or \
             TRAILSCOPE_OPENSEARCH_URL)"
                .into(),
        )
        .into());
    }
    let client = Client::connect(&args.opensearch.connect_options())?;
    let version = client.ping().await?;
    let name = template_name(&args.index_prefix);
    match template_state(&client, &args.index_prefix).await? {
        TemplateState::Current => crate::outln!("index template {name}: up to date"),
        state => {
            let (status, body) = request(
                &client,
                Method::Put,
                &format!("/_index_template/{name}"),
                Some(&template_for(&args.index_prefix)),
            )
            .await?;
            if status == 401 || status == 403 {
                return Err(client
                    .refused(status, &format!("installing index template {name}"), &body)
                    .into());
            }
            if status != 200 {
                bail!("installing index template {name} failed with HTTP {status}: {body}");
            }
            let verb = if state == TemplateState::Missing {
                "installed"
            } else {
                "updated"
            };
            crate::outln!("index template {name}: {verb} (OpenSearch {version})");
        }
    }
    install_ism(&client, &args).await?;
    if let Some(options) = args.dashboards.connect_options(&args.opensearch) {
        let imported = super::dashboards::import(&options, &args.index_prefix).await?;
        crate::outln!(
            "OpenSearch Dashboards {}: {imported} saved objects imported (index pattern {}*, \
             dashboards \"CloudTrail overview\" and \"Identity activity\")",
            options.url,
            args.index_prefix
        );
    }
    Ok(())
}

async fn install_ism(client: &Client, args: &SetupArgs) -> Result<()> {
    let (status, body) = request(client, Method::Get, "/_plugins/_ism/policies", None).await?;
    if status == 401 || status == 403 {
        return Err(client.refused(status, "listing ISM policies", &body).into());
    }
    if status != 200 {
        crate::outln!(
            "ISM policy: not installed, this cluster has no Index State Management plugin \
             (HTTP {status}). Delete old indices with `trailscope retention --keep {}d \
             --index-prefix {}` instead (add --dry-run to see what it would delete; run it \
             daily, e.g. from cron)",
            args.retention_days,
            args.index_prefix
        );
        return Ok(());
    }
    let name = template_name(&args.index_prefix);
    let mut policy: Value = serde_json::from_str(ISM_POLICY).expect("shipped policy is JSON");
    policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"] =
        json!(format!("{}d", args.retention_days));
    policy["policy"]["ism_template"][0]["index_patterns"] =
        json!([format!("{}*", args.index_prefix)]);
    let path = format!("/_plugins/_ism/policies/{name}");
    let (status, existing) = request(client, Method::Get, &path, None).await?;
    let put_path = if status == 200 {
        if existing["policy"]["states"] == policy["policy"]["states"]
            && existing["policy"]["ism_template"][0]["index_patterns"]
                == policy["policy"]["ism_template"][0]["index_patterns"]
        {
            crate::outln!("ISM policy {name}: up to date");
            return Ok(());
        }
        let seq = existing["_seq_no"]
            .as_u64()
            .context("ISM policy without _seq_no")?;
        let term = existing["_primary_term"]
            .as_u64()
            .context("ISM policy without _primary_term")?;
        format!("{path}?if_seq_no={seq}&if_primary_term={term}")
    } else {
        path
    };
    let (status, body) = request(client, Method::Put, &put_path, Some(&policy)).await?;
    if status == 401 || status == 403 {
        return Err(client
            .refused(status, &format!("installing ISM policy {name}"), &body)
            .into());
    }
    if !(200..300).contains(&status) {
        bail!("installing ISM policy {name} failed with HTTP {status}: {body}");
    }
    crate::outln!(
        "ISM policy {name}: installed (delete after {} days)",
        args.retention_days
    );
    Ok(())
}

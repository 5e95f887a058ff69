//! `trailscope retention`: deletes the daily indices older than a window, for clusters without
//! the Index State Management plugin (where `setup` cannot install the ISM policy).
//!
//! The date is taken from the index name (`<prefix>YYYY.MM.DD`, the UTC day of the events it
//! holds), never from the index's creation time: a replay of old events creates an old-dated
//! index today, and it must still go when its day is out of the window. An index whose name is
//! not exactly `<prefix>YYYY.MM.DD` is never touched.
//!
//! An index dated after tomorrow holds events with a future eventTime (made before the time
//! window of `forward`/`ingest` sent them to `<prefix>quarantine`, or by another writer): its
//! day never comes, so `--keep` never deletes it. It is listed apart, and deleted only with
//! `--delete-future`.

use super::OpenSearchArgs;
use crate::sink::opensearch::{truncate, Client};
use anyhow::{bail, Result};
use chrono::{Days, NaiveDate, Utc};
use clap::Args;
use opensearch::http::Method;
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    /// Indices are named <prefix>YYYY.MM.DD; only those are considered.
    #[arg(long, default_value = "cloudtrail-", env = "TRAILSCOPE_INDEX_PREFIX")]
    pub index_prefix: String,
    /// How many days to keep, e.g. 90d: an index is deleted once its date is more than that many
    /// days before today (UTC). With 90d on 2026-11-25, 2026.08.27 is kept and 2026.08.26 goes.
    #[arg(long, value_name = "DAYS", value_parser = parse_keep)]
    pub keep: u32,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the indices dated after tomorrow (UTC): a real event is never dated in the
    /// future, so such an index holds broken or hostile dates. Without it they are listed.
    #[arg(long)]
    pub delete_future: bool,
}

/// "90d" or "90" → 90. At least one day: 0 would delete today's index.
pub fn parse_keep(s: &str) -> Result<u32, String> {
    let digits = s.strip_suffix('d').unwrap_or(s);
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of days of at least 1, e.g. 90d"
        )),
    }
}

/// What to do with each index of `<prefix>*`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Dated before the cutoff, oldest first.
    pub delete: Vec<String>,
    /// Dated on or after the cutoff, up to tomorrow.
    pub keep: Vec<String>,
    /// Dated after tomorrow, oldest first.
    pub future: Vec<String>,
    /// Not `<prefix>YYYY.MM.DD`: never touched.
    pub ignored: Vec<String>,
    /// The oldest date kept.
    pub cutoff: Option<NaiveDate>,
}

/// The date of a daily index name, when it is exactly `<prefix>YYYY.MM.DD`.
pub fn index_date(name: &str, prefix: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix(prefix)?;
    let date = NaiveDate::parse_from_str(rest, "%Y.%m.%d").ok()?;
    // chrono accepts 2026.1.5 and +2026.01.05: only the exact form names our indices.
    (date.format("%Y.%m.%d").to_string() == rest).then_some(date)
}

pub fn plan(names: &[String], prefix: &str, today: NaiveDate, keep_days: u32) -> Plan {
    let cutoff = today
        .checked_sub_days(Days::new(u64::from(keep_days)))
        .unwrap_or(NaiveDate::MIN);
    let tomorrow = today
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX);
    let mut dated = Vec::new();
    let mut future = Vec::new();
    let mut plan = Plan {
        cutoff: Some(cutoff),
        ..Plan::default()
    };
    for name in names {
        match index_date(name, prefix) {
            Some(date) if date < cutoff => dated.push((date, name.clone())),
            Some(date) if date > tomorrow => future.push((date, name.clone())),
            Some(_) => plan.keep.push(name.clone()),
            None => plan.ignored.push(name.clone()),
        }
    }
    dated.sort();
    plan.delete = dated.into_iter().map(|(_, name)| name).collect();
    future.sort();
    plan.future = future.into_iter().map(|(_, name)| name).collect();
    plan.keep.sort();
    plan.ignored.sort();
    plan
}

async fn request(client: &Client, method: Method, path: &str) -> Result<(u16, Value)> {
    Ok(client.json(method, path, &[], None).await?)
}

/// The indices of `<prefix>*`, open or closed.
async fn list(client: &Client, prefix: &str) -> Result<Vec<String>> {
    let path = format!("/_cat/indices/{prefix}*?format=json&h=index&expand_wildcards=open,closed");
    let (status, body) = request(client, Method::Get, &path).await?;
    match status {
        200 => {}
        401 | 403 => {
            return Err(client
                .refused(status, &format!("listing the indices {prefix}*"), &body)
                .into())
        }
        _ => bail!("listing the indices {prefix}* failed with HTTP {status}: {body}"),
    }
    let Some(rows) = body.as_array() else {
        bail!("listing the indices {prefix}*: unexpected answer {body}");
    };
    Ok(rows
        .iter()
        .filter_map(|r| r["index"].as_str().map(str::to_owned))
        .collect())
}

pub async fn run(args: RetentionArgs) -> Result<()> {
    let prefix = &args.index_prefix;
    if prefix.is_empty() || prefix.contains(['*', '?', ',', '/', ' ']) {
        bail!("--index-prefix `{prefix}` must be a plain index name prefix such as cloudtrail-");
    }
    let client = Client::connect(&args.opensearch.connect_options())?;
    client.ping().await?;
    let today = Utc::now().date_naive();
    let mut plan = plan(&list(&client, prefix).await?, prefix, today, args.keep);
    if args.delete_future {
        plan.delete.append(&mut plan.future);
    }
    let cutoff = plan.cutoff.unwrap_or(today);
    crate::outln!(
        "retention: keep {} days of {prefix}YYYY.MM.DD (today {today} UTC: indices dated before \
         {cutoff} are deleted){}",
        args.keep,
        if args.dry_run { ", dry run" } else { "" }
    );
    let mut deleted = 0;
    for name in &plan.delete {
        if args.dry_run {
            crate::outln!("would delete {name}");
            continue;
        }
        let (status, body) = request(&client, Method::Delete, &format!("/{name}")).await?;
        match status {
            200 => {
                deleted += 1;
                crate::outln!("deleted {name}");
            }
            // Another run got there first: the outcome is the one asked for.
            404 => crate::outln!("already gone {name}"),
            401 | 403 => {
                return Err(client
                    .refused(status, &format!("deleting index {name}"), &body)
                    .into())
            }
            _ => bail!(
                "deleting index {name} failed with HTTP {status}: {}",
                truncate(&body.to_string(), 500)
            ),
        }
    }
    for name in &plan.ignored {
        crate::outln!("left alone {name} (not {prefix}YYYY.MM.DD)");
    }
    for name in &plan.future {
        crate::outln!(
            "future-dated {name} (after tomorrow: events with a future eventTime); kept, \
             pass --delete-future to delete it"
        );
    }
    if args.dry_run {
        crate::outln!(
            "{} would be deleted, {} kept, {} future-dated kept, {} left alone; nothing was \
             deleted (dry run)",
            plan.delete.len(),
            plan.keep.len(),
            plan.future.len(),
            plan.ignored.len()
        );
    } else {
        crate::outln!(
            "{deleted} deleted, {} kept, {} future-dated kept, {} left alone",
            plan.keep.len(),
            plan.future.len(),
            plan.ignored.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_date_comes_from_the_exact_name_only() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            index_date("cloudtrail-2026.01.05", "cloudtrail-"),
            Some(d("2026-01-05"))
        );
        for other in [
            "cloudtrail-2026.1.5",
            "cloudtrail-2026.01.05-reindexed",
            "cloudtrail-2026.02.30",
            "cloudtrail-audit-2026.01.05",
            "cloudtrail-+2026.01.05",
            "other-2026.01.05",
            "cloudtrail-",
        ] {
            assert_eq!(index_date(other, "cloudtrail-"), None, "{other}");
        }
    }

    #[test]
    fn deletes_exactly_the_days_before_the_window() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let all = names(&[
            "cloudtrail-2026.11.26",
            "cloudtrail-2026.11.27",
            "cloudtrail-9999.12.31",
            "cloudtrail-quarantine",
            "cloudtrail-2026.11.25",
            "cloudtrail-2026.08.27",
            "cloudtrail-2026.08.26",
            "cloudtrail-2025.12.31",
            "cloudtrail-2026.08.26-old",
            "cloudtrail-keepme",
        ]);
        let p = plan(&all, "cloudtrail-", today, 90);
        assert_eq!(p.cutoff, NaiveDate::from_ymd_opt(2026, 8, 27));
        assert_eq!(
            p.delete,
            names(&["cloudtrail-2025.12.31", "cloudtrail-2026.08.26"])
        );
        assert_eq!(
            p.keep,
            names(&[
                "cloudtrail-2026.08.27",
                "cloudtrail-2026.11.25",
                "cloudtrail-2026.11.26"
            ])
        );
        // After tomorrow: apart, never deleted by age.
        assert_eq!(
            p.future,
            names(&["cloudtrail-2026.11.27", "cloudtrail-9999.12.31"])
        );
        assert_eq!(
            p.ignored,
            names(&[
                "cloudtrail-2026.08.26-old",
                "cloudtrail-keepme",
                "cloudtrail-quarantine"
            ])
        );
    }

    #[test]
    fn keep_is_a_positive_number_of_days() {
        assert_eq!(parse_keep("90d"), Ok(90));
        assert_eq!(parse_keep("7"), Ok(7));
        assert!(parse_keep("0d").is_err());
        assert!(parse_keep("90h").is_err());
        assert!(parse_keep("").is_err());
    }
}

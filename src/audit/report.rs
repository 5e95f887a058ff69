//! Renders a [`Report`]: an aligned terminal table (colours only when asked, i.e. on a
//! terminal), JSON for machines, Markdown for tickets. Pure functions: same report, same text.

use super::novelty::{Novelty, Severity};
use super::{rfc3339, Count, DecisionKind, Report};
use chrono::{DateTime, Utc};
use comfy_table::{presets, Attribute, Cell, CellAlignment, Color, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

pub fn render(report: &Report, format: Format, colour: bool) -> String {
    match format {
        Format::Table => table(report, colour),
        Format::Json => json(report),
        Format::Markdown => markdown(report),
    }
}

pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report serializes");
    s.push('\n');
    s
}

fn when(t: &Option<DateTime<Utc>>) -> String {
    t.map(rfc3339).unwrap_or_else(|| "-".into())
}

fn list(counts: &[Count]) -> String {
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|c| format!("{} ({})", or_none(&c.name), c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "(none)"
    } else {
        s
    }
}

fn name_version(name: &Option<String>, version: &Option<String>) -> String {
    match (name, version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => n.clone(),
        _ => "-".into(),
    }
}

fn access(read_only: Option<bool>) -> &'static str {
    match read_only {
        Some(true) => "read-only",
        Some(false) => "mutating",
        None => "mixed/unknown",
    }
}

/// A bound of the period as a person writes it: a date when it is a UTC midnight (`--since
/// 2026-01-05`), else the time to the second (`--since 30d` from a whole-second now), with a
/// fraction only when one was typed.
fn period_bound(t: DateTime<Utc>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        t.format("%Y-%m-%d").to_string()
    } else {
        rfc3339(t)
    }
}

/// The header lines shared by the table and Markdown formats: (label, value).
fn summary_lines(r: &Report) -> Vec<(&'static str, String)> {
    let s = &r.summary;
    let mut access = format!("{} read-only, {} mutating", s.read_only, s.mutating);
    if s.read_only_unknown > 0 {
        access.push_str(&format!(", {} unknown", s.read_only_unknown));
    }
    let mut lines = vec![
        (
            "Period",
            format!(
                "{} to {} (until excluded)",
                period_bound(r.period.since),
                period_bound(r.period.until)
            ),
        ),
        (
            "Events",
            format!(
                "{} (first {}, last {})",
                s.events,
                when(&s.first_seen),
                when(&s.last_seen)
            ),
        ),
        ("Errors", s.errors.to_string()),
        ("Access", access),
        ("Principals", list(&s.principals)),
        ("Access keys", list(&s.access_keys)),
    ];
    if !r.truncated.is_empty() {
        lines.push((
            "Truncated",
            format!("more entries than shown in: {}", r.truncated.join(", ")),
        ));
    }
    lines
}

/// How a cell is emphasised when colours are on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Bad,
    Warn,
}

/// One titled table: the same content for the terminal and for Markdown.
struct Section {
    title: String,
    header: Vec<&'static str>,
    /// Columns aligned right (numbers).
    numeric: Vec<usize>,
    rows: Vec<Vec<(String, Tone)>>,
    /// Shown instead of an empty table.
    empty: &'static str,
}

fn plain(s: impl Into<String>) -> (String, Tone) {
    (s.into(), Tone::Plain)
}

/// "New in this period" first: it is what an investigator reads first.
fn novelty_section(r: &Report) -> Option<Section> {
    let (baseline, findings, empty) = match r.novelty.as_ref()? {
        Novelty::NoHistory { baseline } => (
            baseline,
            &[][..],
            "no history before the period: nothing can be called new",
        ),
        // The sentence names the learning period's length.
        Novelty::Learning { baseline, .. } => {
            const _: () = assert!(super::novelty::MIN_BASELINE_DAYS == 7);
            (
                baseline,
                &[][..],
                "history shorter than the 7-day learning period: nothing is called new yet",
            )
        }
        Novelty::Compared {
            baseline, findings, ..
        } => (
            baseline,
            &findings[..],
            "none: the baseline had seen everything the period shows",
        ),
    };
    Some(Section {
        title: match r.novelty {
            Some(Novelty::Compared { .. }) => format!(
                "New in this period ({}; baseline {} to {})",
                findings.len(),
                period_bound(baseline.since),
                period_bound(baseline.until)
            ),
            Some(Novelty::Learning {
                history_since: Some(t),
                ..
            }) => format!(
                "New in this period (baseline {} to {}; history since {})",
                period_bound(baseline.since),
                period_bound(baseline.until),
                rfc3339(t)
            ),
            _ => format!(
                "New in this period (baseline {} to {})",
                period_bound(baseline.since),
                period_bound(baseline.until)
            ),
        },
        header: vec![
            "Kind",
            "Value",
            "Severity",
            "First seen",
            "First event",
            "Events",
            "Why",
        ],
        numeric: vec![5],
        rows: findings
            .iter()
            .map(|f| {
                let (word, tone) = match f.severity {
                    Severity::High => ("high", Tone::Bad),
                    Severity::Medium => ("medium", Tone::Warn),
                };
                vec![
                    plain(f.kind.label()),
                    plain(&f.value),
                    (word.to_owned(), tone),
                    plain(when(&f.first_seen)),
                    plain(f.first_event_id.clone().unwrap_or_else(|| "-".into())),
                    plain(f.count.to_string()),
                    plain(f.reason.clone().unwrap_or_else(|| "-".into())),
                ]
            })
            .collect(),
        empty,
    })
}

fn sections(r: &Report) -> Vec<Section> {
    let mut out: Vec<Section> = novelty_section(r).into_iter().collect();
    out.extend([
        Section {
            title: format!("Actions ({})", r.actions.len()),
            header: vec![
                "Action",
                "Calls",
                "First seen",
                "Last seen",
                "Access",
                "Regions",
                "Errors",
                "Error codes",
            ],
            numeric: vec![1, 6],
            rows: r
                .actions
                .iter()
                .map(|a| {
                    let tone = if a.errors > 0 { Tone::Bad } else { Tone::Plain };
                    vec![
                        plain(&a.action),
                        plain(a.count.to_string()),
                        plain(when(&a.first_seen)),
                        plain(when(&a.last_seen)),
                        (
                            access(a.read_only).into(),
                            if a.read_only == Some(false) {
                                Tone::Warn
                            } else {
                                Tone::Plain
                            },
                        ),
                        plain(list(&a.regions)),
                        (a.errors.to_string(), tone),
                        (list(&a.error_codes), tone),
                    ]
                })
                .collect(),
            empty: "none",
        },
        Section {
            title: format!("User agents ({})", r.user_agents.len()),
            header: vec![
                "Kind",
                "SDK",
                "Language",
                "Platform",
                "Tool",
                "IaC provider",
                "Calls",
                "Actions",
                "User agent",
            ],
            numeric: vec![6],
            rows: r
                .user_agents
                .iter()
                .map(|u| {
                    vec![
                        plain(u.kind.clone().unwrap_or_else(|| "-".into())),
                        plain(name_version(&u.sdk, &u.sdk_version)),
                        plain(name_version(&u.language, &u.language_version)),
                        plain(u.platform.clone().unwrap_or_else(|| "-".into())),
                        plain(name_version(&u.tool, &u.tool_version)),
                        plain(name_version(&u.iac_provider, &u.iac_provider_version)),
                        plain(u.count.to_string()),
                        plain(list(&u.actions)),
                        plain(or_none(&u.original)),
                    ]
                })
                .collect(),
            empty: "none",
        },
        Section {
            title: format!("Source addresses ({})", r.source_addresses.len()),
            header: vec!["Address", "Calls", "First seen", "Last seen"],
            numeric: vec![1],
            rows: r
                .source_addresses
                .iter()
                .map(|s| {
                    vec![
                        plain(or_none(&s.address)),
                        plain(s.count.to_string()),
                        plain(when(&s.first_seen)),
                        plain(when(&s.last_seen)),
                    ]
                })
                .collect(),
            empty: "none",
        },
    ]);
    // Only once GeoIP/ASN enrichment fills these fields.
    for (title, header, counts) in [
        ("Countries", "Country", &r.countries),
        ("Networks", "Network", &r.networks),
    ] {
        if !counts.is_empty() {
            out.push(Section {
                title: format!("{title} ({})", counts.len()),
                header: vec![header, "Calls"],
                numeric: vec![1],
                rows: counts
                    .iter()
                    .map(|c| vec![plain(&c.name), plain(c.count.to_string())])
                    .collect(),
                empty: "none",
            });
        }
    }
    out.push(Section {
        title: format!(
            "Authorization failures ({})",
            r.authorization_failures.len()
        ),
        header: vec![
            "Action",
            "Error",
            "Resource",
            "Calls",
            "First seen",
            "Last seen",
        ],
        numeric: vec![3],
        rows: r
            .authorization_failures
            .iter()
            .map(|f| {
                vec![
                    plain(&f.action),
                    (f.error_code.clone(), Tone::Bad),
                    plain(f.resource.clone().unwrap_or_else(|| "-".into())),
                    plain(f.count.to_string()),
                    plain(when(&f.first_seen)),
                    plain(when(&f.last_seen)),
                ]
            })
            .collect(),
        empty: "none",
    });
    if let Some(p) = &r.policy {
        out.push(Section {
            title: format!("Granted but never used ({})", p.granted_unused.len()),
            header: vec!["Pattern", "Statement", "Policy", "What CloudTrail can show"],
            numeric: vec![],
            rows: p
                .granted_unused
                .iter()
                .map(|g| {
                    vec![
                        (g.pattern.clone(), Tone::Warn),
                        plain(&g.statement),
                        plain(&g.document),
                        plain(g.meaning),
                    ]
                })
                .collect(),
            empty: "none: every grant was used",
        });
        out.push(Section {
            title: format!("Used but not granted ({})", p.used_not_granted.len()),
            header: vec!["Action", "Calls", "Policy decision"],
            numeric: vec![1],
            rows: p
                .used_not_granted
                .iter()
                .map(|u| {
                    let decision = if u.denied_by.is_empty() {
                        "no statement allows it".to_owned()
                    } else {
                        format!("denied by {}", u.denied_by.join(", "))
                    };
                    vec![
                        (u.action.clone(), Tone::Bad),
                        plain(u.count.to_string()),
                        plain(decision),
                    ]
                })
                .collect(),
            empty: "none: the policies allow every action used",
        });
        out.push(Section {
            title: format!("Policy decisions ({})", p.decisions.len()),
            header: vec!["Action", "Decision", "Decided by"],
            numeric: vec![],
            rows: p
                .decisions
                .iter()
                .map(|d| {
                    let (word, tone) = match d.decision {
                        DecisionKind::Allowed => ("allowed", Tone::Plain),
                        DecisionKind::AllowedUnlessDenied => {
                            ("allowed unless a Deny applies", Tone::Warn)
                        }
                        DecisionKind::Denied => ("denied", Tone::Bad),
                        DecisionKind::NotGranted => ("not granted", Tone::Bad),
                    };
                    let mut by = if d.by.is_empty() {
                        "no statement allows it".to_owned()
                    } else {
                        d.by.join(", ")
                    };
                    if !d.unless.is_empty() {
                        by.push_str("; unless ");
                        by.push_str(&d.unless.join(", "));
                    }
                    vec![plain(&d.action), (word.to_owned(), tone), plain(by)]
                })
                .collect(),
            empty: "none",
        });
        out.push(Section {
            title: "Not evaluated (an Allow is taken to apply, a Deny is not)".into(),
            header: vec!["Statement", "Policy", "Elements"],
            numeric: vec![],
            rows: p
                .not_evaluated
                .iter()
                .map(|n| {
                    vec![
                        plain(&n.statement),
                        plain(&n.document),
                        (n.elements.join(", "), Tone::Warn),
                    ]
                })
                .collect(),
            empty: "none: no statement has Resource, Condition or Principal elements",
        });
    }
    out
}

fn policy_notes(r: &Report) -> Vec<String> {
    let mut notes = vec![];
    if let Some(Novelty::Compared { truncated, .. }) = &r.novelty {
        if !truncated.is_empty() {
            let kinds: Vec<&str> = truncated.iter().map(|k| k.label()).collect();
            notes.push(format!(
                "New in this period compared only the {} most frequent values of: {}",
                super::novelty::MAX_CANDIDATES,
                kinds.join(", ")
            ));
        }
    }
    if let Some(p) = &r.policy {
        notes.push(format!("Compared with: {}", p.documents.join(", ")));
    }
    for l in &r.suggested_policy_left_out {
        notes.push(format!(
            "Left out of the suggested policy: {} ({})",
            l.action, l.reason
        ));
    }
    notes
}

fn suggested(r: &Report) -> String {
    serde_json::to_string_pretty(&r.suggested_policy).expect("a policy serializes")
}

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub fn table(r: &Report, colour: bool) -> String {
    let bold = |s: &str| {
        if colour {
            format!("{BOLD}{s}{RESET}")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    out.push_str(&bold(&format!("trailscope audit: {}", r.identity)));
    out.push('\n');
    let lines = summary_lines(r);
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in lines {
        out.push_str(&format!("{label:<width$}  {value}\n"));
    }
    if let Some(lines) = lineage_lines(r) {
        out.push('\n');
        out.push_str(&bold("Credential lineage"));
        out.push('\n');
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    for s in sections(r) {
        out.push('\n');
        out.push_str(&bold(&s.title));
        out.push('\n');
        if s.rows.is_empty() {
            out.push_str(&format!("  {}\n", s.empty));
            continue;
        }
        let mut t = Table::new();
        // Never look up the terminal width (no wrapping: the output is the same everywhere);
        // colours only when the caller says stdout is a terminal.
        t.force_no_tty().load_style(presets::UTF8_FULL_CONDENSED);
        if colour {
            t.enforce_styling();
        }
        t.set_header(s.header.iter().map(|h| {
            let c = Cell::new(h);
            if colour {
                c.add_attribute(Attribute::Bold)
            } else {
                c
            }
        }));
        for row in &s.rows {
            t.add_row(row.iter().map(|(text, tone)| {
                let c = Cell::new(text);
                match (colour, tone) {
                    (true, Tone::Bad) => c.fg(Color::Red),
                    (true, Tone::Warn) => c.fg(Color::Yellow),
                    _ => c,
                }
            }));
        }
        for &i in &s.numeric {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out.push('\n');
    let notes = policy_notes(r);
    for n in &notes {
        out.push_str(n);
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    out.push_str(&bold("Suggested least-privilege policy"));
    out.push('\n');
    out.push_str(&suggested(r));
    out.push('\n');
    out
}

fn lineage_lines(r: &Report) -> Option<Vec<String>> {
    r.lineage
        .as_ref()
        .map(|l| super::lineage::tree_lines(&r.identity, r.summary.events, l))
}

fn md_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
        .replace('<', "&lt;")
        .replace('\n', " ")
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!(
        "## trailscope audit: {}\n\n",
        md_escape(&r.identity.to_string())
    );
    for (label, value) in summary_lines(r) {
        out.push_str(&format!("- **{label}:** {}\n", md_escape(&value)));
    }
    if let Some(lines) = lineage_lines(r) {
        // A code block keeps the tree's indentation and needs no escaping.
        out.push_str("\n### Credential lineage\n\n```text\n");
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("```\n");
    }
    for s in sections(r) {
        out.push_str(&format!("\n### {}\n\n", s.title));
        if s.rows.is_empty() {
            out.push_str(&format!("{}\n", capitalize(s.empty)));
            continue;
        }
        out.push_str(&format!("| {} |\n", s.header.join(" | ")));
        let rule: Vec<&str> = (0..s.header.len())
            .map(|i| {
                if s.numeric.contains(&i) {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &s.rows {
            let cells: Vec<String> = row.iter().map(|(t, _)| md_escape(t)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out.push('\n');
    for n in policy_notes(r) {
        out.push_str(&format!("{}\n\n", md_escape(&n)));
    }
    out.push_str("### Suggested least-privilege policy\n\n```json\n");
    out.push_str(&suggested(r));
    out.push_str("\n```\n");
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::policy::PolicySet;
    use crate::audit::query::Aggregated;
    use crate::audit::{build_report, ActionStat, AuditRequest, Identity, Period};

    fn report(countries: Vec<Count>, networks: Vec<Count>) -> Report {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&Utc)
        };
        let request = AuditRequest {
            identity: Identity::RoleSession("ci|deploy".into()),
            period: Period {
                since: t("2026-01-01T00:00:00Z"),
                until: t("2026-01-02T00:00:00Z"),
            },
            index_prefix: "cloudtrail-".into(),
            policies: PolicySet::default(),
            derived: false,
            novelty: None,
            lineage_index: None,
        };
        let agg = Aggregated {
            total: 2,
            first: Some(t("2026-01-01T10:00:00Z")),
            last: Some(t("2026-01-01T11:00:00Z")),
            errors: 1,
            read_only: 0,
            mutating: 2,
            read_only_unknown: 0,
            principals: vec![],
            access_keys: vec![],
            actions: vec![ActionStat {
                action: "s3:PutObject".into(),
                count: 2,
                first_seen: Some(t("2026-01-01T10:00:00Z")),
                last_seen: Some(t("2026-01-01T11:00:00Z")),
                read_only: Some(false),
                regions: vec![Count {
                    name: "eu-west-1".into(),
                    count: 2,
                }],
                errors: 1,
                error_codes: vec![Count {
                    name: "SlowDown".into(),
                    count: 1,
                }],
                authorization_failures: 0,
            }],
            user_agents: vec![],
            sources: vec![],
            countries,
            networks,
            authorization_failures: vec![],
            truncated: vec![],
        };
        build_report(&request, agg)
    }

    #[test]
    fn the_period_reads_as_typed() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(period_bound(t("2026-01-05T00:00:00Z")), "2026-01-05");
        assert_eq!(
            period_bound(t("2026-01-05T12:30:00Z")),
            "2026-01-05T12:30:00Z"
        );
        assert_eq!(
            period_bound(t("2026-01-05T12:30:00.25Z")),
            "2026-01-05T12:30:00.250Z"
        );
        let text = table(&report(vec![], vec![]), false);
        assert!(
            text.contains("Period       2026-01-01 to 2026-01-02 (until excluded)"),
            "{text}"
        );
    }

    #[test]
    fn colours_only_when_asked() {
        let r = report(vec![], vec![]);
        let plain = table(&r, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = table(&r, true);
        assert!(coloured.contains("\x1b[1mActions (1)\x1b[0m"), "{coloured}");
        // The errors are red, the mutating access yellow.
        assert!(
            coloured.contains("\x1b[38;5;9m      1 \x1b[39m"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[38;5;11m mutating \x1b[39m"),
            "{coloured:?}"
        );
        // Same text once the escapes are removed.
        let mut stripped = String::new();
        let mut chars = coloured.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                stripped.push(c);
            }
        }
        assert_eq!(stripped, plain);
    }

    #[test]
    fn countries_and_networks_only_when_enrichment_filled_them() {
        let without = table(&report(vec![], vec![]), false);
        assert!(
            !without.contains("Countries") && !without.contains("Networks"),
            "{without}"
        );
        let r = report(
            vec![Count {
                name: "SE".into(),
                count: 2,
            }],
            vec![Count {
                name: "Example Net".into(),
                count: 2,
            }],
        );
        let with = table(&r, false);
        assert!(
            with.contains("Countries (1)") && with.contains("│ SE      ┆     2 │"),
            "{with}"
        );
        assert!(
            with.contains("Networks (1)") && with.contains("Example Net"),
            "{with}"
        );
        let md = markdown(&r);
        assert!(
            md.contains("### Countries (1)\n\n| Country | Calls |\n| --- | ---: |\n| SE | 2 |\n"),
            "{md}"
        );
    }

    #[test]
    fn markdown_escapes_table_characters() {
        let md = markdown(&report(vec![], vec![]));
        assert!(
            md.starts_with("## trailscope audit: role session ci\\|deploy\n"),
            "{md}"
        );
        let row = "| s3:PutObject | 2 | 2026-01-01T10:00:00Z | 2026-01-01T11:00:00Z | mutating | \
                   eu-west-1 (2) | 1 | SlowDown (1) |\n";
        assert!(md.contains(row), "{md}");
    }
}

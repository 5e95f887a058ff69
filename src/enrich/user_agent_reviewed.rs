//! The parser against user agents written by others (`tests/data/user-agents-reviewed.tsv`):
//! each row is a real agent, where it was found (repository@commit path, or URL), its licence
//! and the fields as an expert reads them. `-` is "absent".
//!
//! Agreement per field, with the disagreements listed:
//! `cargo test --lib enrich::user_agent::reviewed -- --nocapture`

use super::*;

const DATA: &str = include_str!("../../tests/data/user-agents-reviewed.tsv");

/// The compared fields, in the file's column order after `agent`, `source`, `licence`.
const FIELDS: [&str; 9] = [
    "kind",
    "sdk",
    "sdk_version",
    "tool",
    "tool_version",
    "os",
    "language",
    "iac_provider",
    "iac_provider_version",
];

/// The fields an expert reads from an agent, in [`FIELDS`] order.
type Reading = [Option<String>; 9];

struct Row<'a> {
    line: usize,
    agent: &'a str,
    source: &'a str,
    licence: &'a str,
    want: Reading,
}

fn rows() -> Vec<Row<'static>> {
    let mut out = Vec::new();
    let mut lines = DATA.lines().enumerate();
    let (_, header) = lines.next().expect("a header line");
    let cols: Vec<&str> = header.split('\t').collect();
    assert_eq!(
        cols[..3],
        ["agent", "source", "licence"],
        "header: {header}"
    );
    assert_eq!(cols[3..], FIELDS, "header: {header}");
    for (i, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        assert_eq!(cells.len(), 3 + FIELDS.len(), "line {}: {line:?}", i + 1);
        let want: Reading = std::array::from_fn(|f| {
            let c = cells[3 + f];
            (c != "-").then(|| c.to_owned())
        });
        out.push(Row {
            line: i + 1,
            agent: cells[0],
            source: cells[1],
            licence: cells[2],
            want,
        });
    }
    out
}

/// The parser's answer in the file's terms; `os` is the OS family (`aws.platform`'s first
/// part), for browsers too.
fn reading(p: &ParsedUserAgent) -> Reading {
    let a = &p.aws;
    let os = p.ecs.os.name.as_deref().map(|n| match os_family(n) {
        Some((_, key)) => key.to_owned(),
        None => n.to_ascii_lowercase(),
    });
    [
        Some(a.kind.as_str().to_owned()),
        a.sdk.clone(),
        a.sdk_version.clone(),
        a.tool.clone(),
        a.tool_version.clone(),
        os,
        a.language.clone(),
        a.iac_provider.clone(),
        a.iac_provider_version.clone(),
    ]
}

/// Per field, how many rows agree; and every disagreement.
fn agreement(rows: &[Row<'_>]) -> ([usize; 9], Vec<String>) {
    let mut agree = [0usize; 9];
    let mut diffs = Vec::new();
    for r in rows {
        let got = reading(&parse(r.agent));
        for f in 0..FIELDS.len() {
            if got[f] == r.want[f] {
                agree[f] += 1;
            } else {
                diffs.push(format!(
                    "line {} {:?}: {} want {:?} got {:?}",
                    r.line, r.agent, FIELDS[f], r.want[f], got[f]
                ));
            }
        }
    }
    (agree, diffs)
}

#[test]
fn reviewed_agents_are_from_others_with_a_source() {
    let rows = rows();
    assert!(rows.len() >= 100, "{} reviewed agents", rows.len());
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        assert!(
            seen.insert(r.agent),
            "line {}: duplicate {:?}",
            r.line,
            r.agent
        );
        // repository@commit path, or a URL.
        let cited = r.source.starts_with("https://")
            || r.source.split_once(' ').is_some_and(|(repo, path)| {
                repo.split_once('@')
                    .is_some_and(|(name, commit)| name.contains('/') && commit.len() == 40)
                    && !path.is_empty()
            });
        assert!(cited, "line {}: source {:?}", r.line, r.source);
        assert!(!r.licence.is_empty() && r.licence != "-", "line {}", r.line);
        assert!(
            !r.licence.to_ascii_lowercase().contains("ours"),
            "line {}: a reviewed agent is written by others",
            r.line
        );
        // Not one of the 69 agents of the shared corpus (the first rows of TABLE).
        assert!(
            !tests::TABLE[..69].iter().any(|(ua, _, _)| *ua == r.agent),
            "line {}: {:?} is in the shared corpus already",
            r.line,
            r.agent
        );
    }
}

/// Where the parser and the expert reading still differ: (agent, fields). Anything else that
/// differs fails, and so does a listed field that came to agree (take it off the list).
/// Each is one string of its kind; reading it would take a rule for that string alone.
const KNOWN_DISAGREEMENTS: &[(&str, &[&str])] = &[
    // A product name with spaces: tokens are whitespace-separated.
    ("Kubernetes Java Client/18.0.0-SNAPSHOT", &["language"]),
    // The ElastiCache command line toolkit (2014): `name/name version API date`.
    (
        "AWS CLI/ElastiCache 1.10 API 2014-12-01",
        &["kind", "tool", "tool_version"],
    ),
    // A documentation typo: no space between the OS version and `botocore/`.
    (
        "aws-cli/1.10.10 Python/2.7.9 Windows/7botocore/1.4.1",
        &["sdk", "sdk_version"],
    ),
    // A documentation typo: no space between the tool and its version.
    ("ec2-api-tools1.6.12.2", &["kind", "tool", "tool_version"]),
];

#[test]
fn reviewed_agents_agree_with_the_expert_reading() {
    let rows = rows();
    let (agree, diffs) = agreement(&rows);
    let n = rows.len();
    for (f, a) in FIELDS.iter().zip(agree) {
        eprintln!("{f:<22} {a:>4}/{n} ({:.1}%)", 100.0 * a as f64 / n as f64);
    }
    let known = |d: &str| {
        KNOWN_DISAGREEMENTS.iter().any(|(agent, fields)| {
            fields
                .iter()
                .any(|f| d.contains(&format!("{agent:?}: {f} want")))
        })
    };
    let unexpected: Vec<&String> = diffs.iter().filter(|d| !known(d)).collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let listed: usize = KNOWN_DISAGREEMENTS.iter().map(|(_, f)| f.len()).sum();
    assert_eq!(
        listed,
        diffs.len(),
        "a listed disagreement now agrees: take it off KNOWN_DISAGREEMENTS\n{diffs:#?}"
    );
}

/// Prints the parser's reading of each row, in the file's format (development aid:
/// `UA_REVIEWED_DRAFT=1 cargo test --lib reviewed_draft -- --ignored --nocapture`).
#[test]
#[ignore]
fn reviewed_draft() {
    for r in rows() {
        let got = reading(&parse(r.agent));
        let cells: Vec<String> = got
            .iter()
            .map(|c| c.clone().unwrap_or_else(|| "-".to_owned()))
            .collect();
        println!(
            "{}\t{}\t{}\t{}",
            r.agent,
            r.source,
            r.licence,
            cells.join("\t")
        );
    }
}

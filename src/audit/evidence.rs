//! Whether CloudTrail can show that a granted action was used at all, so that "granted but never
//! used" does not suggest removing a permission that is in use where management events cannot
//! see it. Data: `mappings/iam-evidence.tsv` (data events, permissions never logged, each line
//! citing AWS documentation) and the iam-dataset's permissionless calls
//! ([`crate::event::iam_map`]).

use super::action_pattern::action_matches;
use crate::event::iam_map;
use serde::Serialize;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../../mappings/iam-evidence.tsv");

/// What CloudTrail's management events can say about the use of an action (or pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Management events record every use: unused there means unused.
    ManagementEvents,
    /// Recorded only as a data event, by trails with data event selectors for it.
    DataEventOnly,
    /// A permission checked inside other calls (`iam:PassRole`), never an event of its own.
    NeverLogged,
    /// The call needs no permission (`sts:GetCallerIdentity`): the grant changes nothing.
    NoPermissionNeeded,
    /// A wildcard or `NotAction` that also covers actions of the kinds above: part of what it
    /// grants cannot be seen in management events.
    PartlyObservable,
}

impl Evidence {
    /// What "granted but never used" means for a grant with this evidence, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            Evidence::ManagementEvents => "unused in the events: a candidate for removal",
            Evidence::DataEventOnly => {
                "not observable in management events: a data event, logged only by a trail with \
                 data event selectors"
            }
            Evidence::NeverLogged => {
                "not observable: CloudTrail never logs it as an event of its own"
            }
            Evidence::NoPermissionNeeded => "needs no permission: the grant changes nothing",
            Evidence::PartlyObservable => {
                "partly not observable: covers data events or permissions CloudTrail never logs"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    DataEvent,
    NeverLogged,
}

fn table() -> &'static [(Kind, &'static str)] {
    static TABLE_ROWS: OnceLock<Vec<(Kind, &'static str)>> = OnceLock::new();
    TABLE_ROWS.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let mut cells = line.split('\t');
                let kind = match cells.next() {
                    Some("data-event") => Kind::DataEvent,
                    Some("never-logged") => Kind::NeverLogged,
                    // Compiled-in data checked by a test, not input.
                    _ => panic!("mappings/iam-evidence.tsv: bad row {line:?}"),
                };
                let action = cells.next().unwrap_or_default();
                (kind, action)
            })
            .collect()
    })
}

/// The evidence for one Allow pattern (`s3:GetObject`, `s3:*`, `*`).
pub fn of_pattern(pattern: &str) -> Evidence {
    if !pattern.contains(['*', '?']) {
        return of_action(pattern);
    }
    let hidden = table().iter().any(|(_, a)| action_matches(pattern, a));
    if hidden {
        Evidence::PartlyObservable
    } else {
        Evidence::ManagementEvents
    }
}

/// The evidence for a whole `NotAction` Allow statement: it grants every action its patterns do
/// not name, so it covers unobservable ones unless it names them all.
pub fn of_not_action(patterns: &[String]) -> Evidence {
    let hidden = table()
        .iter()
        .any(|(_, a)| !patterns.iter().any(|p| action_matches(p, a)));
    if hidden {
        Evidence::PartlyObservable
    } else {
        Evidence::ManagementEvents
    }
}

/// The evidence for one concrete action.
pub fn of_action(action: &str) -> Evidence {
    if iam_map::is_permissionless(action) {
        return Evidence::NoPermissionNeeded;
    }
    match table().iter().find(|(_, a)| a.eq_ignore_ascii_case(action)) {
        Some((Kind::DataEvent, _)) => Evidence::DataEventOnly,
        Some((Kind::NeverLogged, _)) => Evidence::NeverLogged,
        None => Evidence::ManagementEvents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_actions_with_sources() {
        assert!(table().len() >= 40);
        for line in TABLE
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), 3, "{line:?}: kind, action, citation");
            assert!(cells[1].split_once(':').is_some(), "{line:?}");
            assert!(!cells[2].trim().is_empty(), "{line:?} cites no source");
        }
    }

    #[test]
    fn each_kind_of_evidence() {
        assert_eq!(
            of_action("sts:GetCallerIdentity"),
            Evidence::NoPermissionNeeded
        );
        assert_eq!(of_action("iam:PassRole"), Evidence::NeverLogged);
        assert_eq!(of_action("s3:GetObject"), Evidence::DataEventOnly);
        assert_eq!(of_action("LAMBDA:invokefunction"), Evidence::DataEventOnly);
        assert_eq!(of_action("dynamodb:GetItem"), Evidence::DataEventOnly);
        assert_eq!(of_action("ec2:RunInstances"), Evidence::ManagementEvents);
        assert_eq!(of_pattern("s3:*"), Evidence::PartlyObservable);
        assert_eq!(of_pattern("s3:Get*"), Evidence::PartlyObservable);
        assert_eq!(of_pattern("iam:Pass*"), Evidence::PartlyObservable);
        assert_eq!(of_pattern("ec2:Describe*"), Evidence::ManagementEvents);
        assert_eq!(of_pattern("s3:PutBucket*"), Evidence::ManagementEvents);
        assert_eq!(
            of_not_action(&["iam:*".into(), "organizations:*".into()]),
            Evidence::PartlyObservable
        );
        assert_eq!(of_not_action(&["*".into()]), Evidence::ManagementEvents);
    }
}

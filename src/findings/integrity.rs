//! Findings from CloudTrail log file integrity validation (`ingest s3:// --validate-digests`): a
//! deleted or changed log file, a broken digest chain, a forged digest is the incident a
//! security engineer looks for first, so each problem is a finding beside the summary, in the
//! same index and outputs as the rest. The identity is the trail's location; the value the object.

use super::finding::Finding;
use super::kind::{Kind, Severity};
use crate::source::digests::DigestReport;
use chrono::{DateTime, Utc};

/// One finding per problem object of `report`, for the trail at `trail` (`s3://bucket/prefix`).
pub fn findings(report: &DigestReport, trail: &str, now: DateTime<Utc>) -> Vec<Finding> {
    let problems: [(&[String], Kind, Severity, &str); 6] = [
        (
            &report.missing,
            Kind::LogFileMissing,
            Severity::High,
            "listed by the trail's signed digest and not there: events may have been deleted",
        ),
        (
            &report.altered,
            Kind::LogFileAltered,
            Severity::High,
            "its content is not what the trail's signed digest says: changed after delivery",
        ),
        (
            &report.unchained,
            Kind::DigestUnchained,
            Severity::High,
            "this digest does not chain to the one before it: digests were removed or replaced",
        ),
        (
            &report.bad_signature,
            Kind::DigestBadSignature,
            Severity::High,
            "this digest's signature does not verify, or it was moved or is unreadable: it may \
             be forged",
        ),
        (
            &report.no_key,
            Kind::DigestUnknownKey,
            Severity::Medium,
            "signed with a key not in --digest-public-keys: refresh that file with `aws \
             cloudtrail list-public-keys` and validate again",
        ),
        (
            &report.not_covered,
            Kind::LogFileNotCovered,
            Severity::Medium,
            "a log file in the period that no validated digest lists: its integrity is unknown",
        ),
    ];
    problems
        .into_iter()
        .flat_map(|(objects, kind, severity, reason)| {
            objects.iter().map(move |object| Finding {
                identity: trail.to_owned(),
                identity_type: "trail",
                lineage_root: trail.to_owned(),
                lineage_root_known: false,
                access_key: None,
                kind,
                value: object.clone(),
                first_event_id: String::new(),
                timestamp: now,
                detected_at: now,
                severity,
                reason: format!("{object}: {reason}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_one_finding_of_its_kind() {
        let report = DigestReport {
            missing: vec!["s3://b/t/a.json.gz".into()],
            altered: vec!["s3://b/t/b.json.gz".into()],
            not_covered: vec!["s3://b/t/c.json.gz".into()],
            ..DigestReport::default()
        };
        let found = findings(&report, "s3://b/t/", Utc::now());
        let kinds: Vec<(Kind, Severity, &str)> = found
            .iter()
            .map(|f| (f.kind, f.severity, f.value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Kind::LogFileMissing, Severity::High, "s3://b/t/a.json.gz"),
                (Kind::LogFileAltered, Severity::High, "s3://b/t/b.json.gz"),
                (
                    Kind::LogFileNotCovered,
                    Severity::Medium,
                    "s3://b/t/c.json.gz"
                ),
            ]
        );
        assert!(found
            .iter()
            .all(|f| f.identity == "s3://b/t/" && f.identity_type == "trail"));
        // The same problem found again is the same document.
        let again = findings(&report, "s3://b/t/", Utc::now());
        assert_eq!(found[0].id(), again[0].id());
    }
}

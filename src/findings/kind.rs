//! What a finding is about and how much it matters: shared by the continuous findings stage and
//! `audit`'s "new in this period", so both judge alike.

use crate::audit::action_pattern::action_matches;
use serde::Serialize;

/// Actions whose first use deserves a person's attention now, and why. Matched as IAM patterns.
const SENSITIVE: &[(&str, &str)] = &[
    ("iam:Create*", "creates identities, keys or policies"),
    ("iam:Attach*", "grants a managed policy"),
    ("iam:Put*Policy", "grants an inline policy"),
    ("iam:Update*", "changes an identity, its trust or its login"),
    ("iam:Add*", "adds a user to a group or a role to a profile"),
    ("iam:PassRole", "hands a role to a service"),
    ("sts:AssumeRole*", "takes on another role"),
    ("sts:GetFederationToken", "mints credentials"),
    ("cloudtrail:StopLogging", "stops the audit trail"),
    ("cloudtrail:DeleteTrail", "removes the audit trail"),
    (
        "cloudtrail:UpdateTrail",
        "redirects or narrows the audit trail",
    ),
    (
        "cloudtrail:PutEventSelectors",
        "narrows what the trail records",
    ),
    (
        "kms:ScheduleKeyDeletion",
        "destroys a key and the data it protects",
    ),
    ("kms:DisableKey", "makes encrypted data unreadable"),
    ("kms:PutKeyPolicy", "changes who may use a key"),
    ("guardduty:DeleteDetector", "turns threat detection off"),
    (
        "config:StopConfigurationRecorder",
        "stops configuration history",
    ),
    ("s3:PutBucketPolicy", "changes who may read a bucket"),
    (
        "organizations:LeaveOrganization",
        "escapes the organization's guardrails",
    ),
];

/// Why an action is sensitive, when it is.
pub fn sensitive(action: &str) -> Option<&'static str> {
    SENSITIVE
        .iter()
        .find(|(p, _)| action_matches(p, action))
        .map(|(_, why)| *why)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    NewAction,
    NewService,
    NewRegion,
    NewNetwork,
    NewCountry,
    NewUserAgent,
    DeniedBurst,
    /// An action the policy registered for the identity does not grant.
    NotGranted,
    /// Log file integrity (`ingest s3:// --validate-digests`): a log file a signed digest lists
    /// is not there.
    LogFileMissing,
    /// A log file's content is not what the signed digest listing it says.
    LogFileAltered,
    /// A digest does not chain to the one before it.
    DigestUnchained,
    /// A digest whose signature does not verify (or moved, or unreadable as a digest).
    DigestBadSignature,
    /// A digest signed with a key not in the public keys file.
    DigestUnknownKey,
    /// A log file in the period that no validated digest lists.
    LogFileNotCovered,
}

impl Kind {
    /// The name in documents and on the command line (`new_action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewAction => "new_action",
            Kind::NewService => "new_service",
            Kind::NewRegion => "new_region",
            Kind::NewNetwork => "new_network",
            Kind::NewCountry => "new_country",
            Kind::NewUserAgent => "new_user_agent",
            Kind::DeniedBurst => "denied_burst",
            Kind::NotGranted => "not_granted",
            Kind::LogFileMissing => "log_file_missing",
            Kind::LogFileAltered => "log_file_altered",
            Kind::DigestUnchained => "digest_unchained",
            Kind::DigestBadSignature => "digest_bad_signature",
            Kind::DigestUnknownKey => "digest_unknown_key",
            Kind::LogFileNotCovered => "log_file_not_covered",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::NewAction => "new action",
            Kind::NewService => "new service",
            Kind::NewRegion => "new region",
            Kind::NewNetwork => "new network",
            Kind::NewCountry => "new country",
            Kind::NewUserAgent => "new user agent",
            Kind::DeniedBurst => "denied burst",
            Kind::NotGranted => "not granted",
            Kind::LogFileMissing => "log file missing",
            Kind::LogFileAltered => "log file altered",
            Kind::DigestUnchained => "digest chain broken",
            Kind::DigestBadSignature => "digest signature bad",
            Kind::DigestUnknownKey => "digest key unknown",
            Kind::LogFileNotCovered => "log file not covered",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_actions() {
        assert!(sensitive("iam:CreateAccessKey").is_some());
        assert!(sensitive("iam:PutUserPolicy").is_some());
        assert!(sensitive("cloudtrail:StopLogging").is_some());
        assert!(sensitive("ec2:DescribeInstances").is_none());
        assert!(sensitive("iam:ListUsers").is_none());
    }
}

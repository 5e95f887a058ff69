//! One finding as it is indexed, written to a file and posted to a webhook.

use super::kind::{Kind, Severity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The access key, role or principal ARN whose habits the event broke.
    pub identity: String,
    /// `access_key`, `role` or `principal`.
    pub identity_type: &'static str,
    /// The long-term credential (or principal) the event's credentials derive from, as far as
    /// indexed minting events show it; the identity itself when they do not.
    pub lineage_root: String,
    /// False when `lineage_root` is only the identity because the minting event is not indexed
    /// (or the credentials were never minted by an STS call CloudTrail records, as a console
    /// sign-in's).
    pub lineage_root_known: bool,
    /// The access key the first event was made with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    pub kind: Kind,
    pub value: String,
    pub first_event_id: String,
    /// When the first event happened.
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub severity: Severity,
    pub reason: String,
}

impl Finding {
    /// The document id: the same finding found again (a replay, a resumed run, two batches at
    /// once) has the same id, and `create` keeps the first.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.identity, self.kind.as_str(), &self.value] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_id_depends_on_identity_kind_and_value_only() {
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 10, 0, 0).unwrap();
        let f = Finding {
            identity: "AKIA1".into(),
            identity_type: "access_key",
            lineage_root: "AKIA1".into(),
            lineage_root_known: true,
            access_key: Some("AKIA1".into()),
            kind: Kind::NewAction,
            value: "iam:CreateAccessKey".into(),
            first_event_id: "e1".into(),
            timestamp: at,
            detected_at: at,
            severity: Severity::High,
            reason: "x".into(),
        };
        let mut later = f.clone();
        later.first_event_id = "e2".into();
        later.detected_at = at + chrono::Duration::days(1);
        assert_eq!(f.id(), later.id());
        let mut other = f.clone();
        other.kind = Kind::NewService;
        assert_ne!(f.id(), other.id());
        // No separator confusion: ("ab", "c") is not ("a", "bc").
        let mut shifted = f.clone();
        shifted.identity = "AKIA1n".into();
        shifted.value = "ew_action".into();
        assert_ne!(f.id(), shifted.id());
    }
}

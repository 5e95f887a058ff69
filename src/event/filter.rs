//! Filters on parsed fields, applied by trailscope itself in every mode: CloudWatch Logs JSON
//! filter patterns do not reach subscription payloads or files (and moto ignores them).

use super::cloudtrail::CloudTrailRecord;

/// Within one field the values are alternatives; across fields all must match. Empty: all pass.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub access_keys: Vec<String>,
    /// Matches the caller's ARN or, for role sessions, the role's ARN.
    pub principal_arns: Vec<String>,
    pub event_sources: Vec<String>,
    pub event_names: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.access_keys.is_empty()
            && self.principal_arns.is_empty()
            && self.event_sources.is_empty()
            && self.event_names.is_empty()
    }

    pub fn matches(&self, r: &CloudTrailRecord<'_>) -> bool {
        let any = |wanted: &[String], value: Option<&str>| {
            wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w == v))
        };
        let identity = r.user_identity.as_ref();
        let arn = identity.and_then(|i| i.arn.as_deref());
        let role_arn = identity
            .and_then(|i| i.session_context.as_ref())
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|s| s.arn.as_deref());
        any(
            &self.access_keys,
            identity.and_then(|i| i.access_key_id.as_deref()),
        ) && (any(&self.principal_arns, arn)
            || (!self.principal_arns.is_empty() && any(&self.principal_arns, role_arn)))
            && any(&self.event_sources, r.event_source.as_deref())
            && any(&self.event_names, Some(&r.event_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"eventTime":"2026-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com",
        "eventName":"DescribeInstances","userIdentity":{"type":"AssumedRole","accessKeyId":"ASIA1",
        "arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"}}}}"#;

    #[test]
    fn fields_and_alternatives() {
        let r = CloudTrailRecord::parse(RECORD).unwrap();
        assert!(Filter::default().matches(&r));
        let f = |k: &[&str], a: &[&str], s: &[&str], n: &[&str]| Filter {
            access_keys: k.iter().map(|x| x.to_string()).collect(),
            principal_arns: a.iter().map(|x| x.to_string()).collect(),
            event_sources: s.iter().map(|x| x.to_string()).collect(),
            event_names: n.iter().map(|x| x.to_string()).collect(),
        };
        assert!(f(&["AKIA0", "ASIA1"], &[], &[], &[]).matches(&r));
        assert!(!f(&["AKIA0"], &[], &[], &[]).matches(&r));
        assert!(f(&[], &["arn:aws:iam::1:role/R"], &[], &[]).matches(&r));
        assert!(f(&[], &["arn:aws:sts::1:assumed-role/R/s"], &[], &[]).matches(&r));
        assert!(!f(&[], &["arn:aws:iam::1:role/Other"], &[], &[]).matches(&r));
        assert!(f(
            &["ASIA1"],
            &[],
            &["ec2.amazonaws.com"],
            &["DescribeInstances"]
        )
        .matches(&r));
        assert!(!f(&["ASIA1"], &[], &["s3.amazonaws.com"], &[]).matches(&r));
    }
}

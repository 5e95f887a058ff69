//! IAM policy documents, as far as `audit` needs them: which actions a set of identity-based
//! policies allows, the way IAM matches actions, and which statement decided.
//!
//! * `Action` / `NotAction` patterns with `*` (any run of characters) and `?` (one character),
//!   compared ignoring case, as IAM does.
//! * An explicit `Deny` wins over any `Allow`; without an `Allow` an action is implicitly denied.
//! * Several documents are evaluated together (the union of their statements), like several
//!   policies attached to one identity.
//! * `Resource`/`NotResource` other than `"*"`, `Condition`, `Principal`/`NotPrincipal` are
//!   **not evaluated**: [`not_evaluated`](PolicySet::not_evaluated) says which statements have
//!   them. An `Allow` with them is taken to apply (the action is reported as allowed, naming the
//!   statement and what was not evaluated); a `Deny` with them is **not** taken to apply, because
//!   it may deny other resources or other requests only: the action is reported as allowed
//!   unless that Deny applies ([`Decision::AllowedUnlessDenied`]) rather than as denied.

pub use super::action_pattern::action_matches;
use super::evidence::{self, Evidence};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid IAM policy document: {message} (line {line}, column {column})")]
    Json {
        path: String,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{path}, statement {statement}: {message}")]
    Statement {
        path: String,
        statement: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// A JSON string or array of strings, as IAM accepts for most elements.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    #[serde(rename = "Version")]
    _version: Option<String>,
    #[serde(rename = "Id")]
    _id: Option<String>,
    #[serde(rename = "Statement")]
    statement: RawStatements,
}

/// `Statement` is one object or an array of them. Not `#[serde(untagged)]`: that would replace
/// the precise error inside a statement ("unknown variant `Alow`") with a vague one.
#[derive(Debug)]
enum RawStatements {
    One(Box<RawStatement>),
    Many(Vec<RawStatement>),
}

impl<'de> Deserialize<'de> for RawStatements {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawStatements;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a statement object or an array of statements")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawStatement::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|s| RawStatements::One(Box::new(s)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element()? {
                    v.push(s);
                }
                Ok(RawStatements::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "Sid")]
    sid: Option<String>,
    #[serde(rename = "Effect")]
    effect: Effect,
    #[serde(rename = "Action")]
    action: Option<OneOrMany>,
    #[serde(rename = "NotAction")]
    not_action: Option<OneOrMany>,
    #[serde(rename = "Resource")]
    resource: Option<OneOrMany>,
    #[serde(rename = "NotResource")]
    not_resource: Option<OneOrMany>,
    #[serde(rename = "Condition")]
    condition: Option<serde_json::Value>,
    #[serde(rename = "Principal")]
    principal: Option<serde_json::Value>,
    #[serde(rename = "NotPrincipal")]
    not_principal: Option<serde_json::Value>,
}

/// Which actions a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actions {
    /// `Action`: the actions matching any pattern.
    Action(Vec<String>),
    /// `NotAction`: every action matching none of the patterns.
    NotAction(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Statement {
    /// `Sid`, or `#n` (1-based position in its document) when it has none.
    pub label: String,
    pub effect: Effect,
    pub actions: Actions,
    /// Elements present that `audit` does not evaluate (`Resource`, `Condition`, ...).
    pub not_evaluated: Vec<&'static str>,
}

impl Statement {
    /// Whether this statement's action element covers `action`.
    pub fn covers(&self, action: &str) -> bool {
        match &self.actions {
            Actions::Action(p) => p.iter().any(|p| action_matches(p, action)),
            Actions::NotAction(p) => !p.iter().any(|p| action_matches(p, action)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicyDocument {
    /// The path as given (shown in reports).
    pub source: String,
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn load(path: &Path) -> Result<PolicyDocument, PolicyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: shown.clone(),
            source,
        })?;
        PolicyDocument::parse(&shown, &text)
    }

    pub fn parse(source: &str, text: &str) -> Result<PolicyDocument, PolicyError> {
        let raw: RawDocument = serde_json::from_str(text).map_err(|e| PolicyError::Json {
            path: source.to_owned(),
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })?;
        let raw = match raw.statement {
            RawStatements::One(s) => vec![*s],
            RawStatements::Many(v) => v,
        };
        let mut statements = Vec::with_capacity(raw.len());
        for (i, s) in raw.into_iter().enumerate() {
            let label = s.sid.clone().unwrap_or_else(|| format!("#{}", i + 1));
            let err = |message: &str| PolicyError::Statement {
                path: source.to_owned(),
                statement: label.clone(),
                message: message.to_owned(),
            };
            let actions = match (s.action, s.not_action) {
                (Some(a), None) => Actions::Action(a.into_vec()),
                (None, Some(n)) => Actions::NotAction(n.into_vec()),
                (Some(_), Some(_)) => return Err(err("has both Action and NotAction")),
                (None, None) => return Err(err("has neither Action nor NotAction")),
            };
            let patterns = match &actions {
                Actions::Action(p) | Actions::NotAction(p) => p,
            };
            if let Some(bad) = patterns.iter().find(|p| !valid_pattern(p)) {
                return Err(err(&format!(
                    "action {bad:?} is not `*` or `service:Action` (wildcards `*` and `?` allowed)"
                )));
            }
            let mut not_evaluated = Vec::new();
            if s.resource
                .is_some_and(|r| r.into_vec().iter().any(|r| r != "*"))
            {
                not_evaluated.push("Resource");
            }
            if s.not_resource.is_some() {
                not_evaluated.push("NotResource");
            }
            if s.condition.is_some() {
                not_evaluated.push("Condition");
            }
            if s.principal.is_some() {
                not_evaluated.push("Principal");
            }
            if s.not_principal.is_some() {
                not_evaluated.push("NotPrincipal");
            }
            statements.push(Statement {
                label,
                effect: s.effect,
                actions,
                not_evaluated,
            });
        }
        Ok(PolicyDocument {
            source: source.to_owned(),
            statements,
        })
    }
}

/// serde_json appends " at line L column C"; we report the position in fields of our own.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn valid_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    match p.split_once(':') {
        Some((service, action)) => {
            !service.is_empty()
                && !action.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '*' | '?'))
                && action
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?' | '.'))
        }
        None => false,
    }
}

/// A statement that took part in a decision: where it is, and what of it was not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub document: String,
    pub statement: String,
    /// Elements of the statement not evaluated (`Resource`, `Condition`, ...); empty when the
    /// statement applies to every request for the action.
    pub not_evaluated: Vec<&'static str>,
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.document, self.statement)?;
        if !self.not_evaluated.is_empty() {
            write!(f, " ({} not evaluated)", self.not_evaluated.join(", "))?;
        }
        Ok(())
    }
}

/// What the policies decide for one action, and which statements decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by these statements, and no Deny statement covers it.
    Allowed { by: Vec<StatementRef> },
    /// Allowed by `by`, and covered by Deny statements whose Resource/Condition/... are not
    /// evaluated: denied only where those apply, which the events alone cannot tell.
    AllowedUnlessDenied {
        by: Vec<StatementRef>,
        unless: Vec<StatementRef>,
    },
    /// A Deny that applies to every request for the action (Resource `*` or none, no Condition).
    Denied { by: Vec<StatementRef> },
    /// No statement allows it (implicit deny).
    NotGranted,
}

/// A set of policy documents evaluated together.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub documents: Vec<PolicyDocument>,
}

/// An `Allow` pattern (or a whole `NotAction` statement) that no used action fell under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnusedGrant {
    pub document: String,
    pub statement: String,
    /// The pattern, e.g. `s3:*`; for a NotAction statement `NotAction [pattern, ...]`.
    pub pattern: String,
    /// Whether management events could have shown its use at all.
    pub evidence: Evidence,
    /// What "never used" means here, in words.
    pub meaning: &'static str,
}

/// A statement element `audit` does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotEvaluated {
    pub document: String,
    pub statement: String,
    pub elements: Vec<&'static str>,
}

impl PolicySet {
    pub fn new(documents: Vec<PolicyDocument>) -> PolicySet {
        PolicySet { documents }
    }

    fn statements(&self) -> impl Iterator<Item = (&PolicyDocument, &Statement)> {
        self.documents
            .iter()
            .flat_map(|d| d.statements.iter().map(move |s| (d, s)))
    }

    /// Explicit Deny first (when it applies to every request), then Allow, else implicitly
    /// denied (not granted). See the module docs for the statements that are not evaluated.
    pub fn decide(&self, action: &str) -> Decision {
        let covering = |effect: Effect| -> Vec<StatementRef> {
            self.statements()
                .filter(|(_, s)| s.effect == effect && s.covers(action))
                .map(|(d, s)| StatementRef {
                    document: d.source.clone(),
                    statement: s.label.clone(),
                    not_evaluated: s.not_evaluated.clone(),
                })
                .collect()
        };
        let (certain, conditional): (Vec<_>, Vec<_>) = covering(Effect::Deny)
            .into_iter()
            .partition(|s| s.not_evaluated.is_empty());
        if !certain.is_empty() {
            return Decision::Denied { by: certain };
        }
        let allowed = covering(Effect::Allow);
        if allowed.is_empty() {
            Decision::NotGranted
        } else if conditional.is_empty() {
            Decision::Allowed { by: allowed }
        } else {
            Decision::AllowedUnlessDenied {
                by: allowed,
                unless: conditional,
            }
        }
    }

    /// Allow patterns that match none of `used` (for `NotAction` statements: the statement as a
    /// whole when it covers none of `used`). In document and statement order.
    pub fn unused_grants(&self, used: &[&str]) -> Vec<UnusedGrant> {
        let mut out = Vec::new();
        for (d, s) in self.statements().filter(|(_, s)| s.effect == Effect::Allow) {
            let unused = |pattern: String, evidence: Evidence| UnusedGrant {
                document: d.source.clone(),
                statement: s.label.clone(),
                pattern,
                evidence,
                meaning: evidence.meaning(),
            };
            match &s.actions {
                Actions::Action(patterns) => {
                    for p in patterns {
                        if !used.iter().any(|a| action_matches(p, a)) {
                            out.push(unused(p.clone(), evidence::of_pattern(p)));
                        }
                    }
                }
                Actions::NotAction(patterns) => {
                    if !used.iter().any(|a| s.covers(a)) {
                        out.push(unused(
                            format!("NotAction [{}]", patterns.join(", ")),
                            evidence::of_not_action(patterns),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Statements with elements that are not evaluated.
    pub fn not_evaluated(&self) -> Vec<NotEvaluated> {
        self.statements()
            .filter(|(_, s)| !s.not_evaluated.is_empty())
            .map(|(d, s)| NotEvaluated {
                document: d.source.clone(),
                statement: s.label.clone(),
                elements: s.not_evaluated.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement that applies to every request (nothing left unevaluated).
    fn at(document: &str, statement: &str) -> StatementRef {
        StatementRef {
            document: document.into(),
            statement: statement.into(),
            not_evaluated: vec![],
        }
    }

    fn set(docs: &[&str]) -> PolicySet {
        PolicySet::new(
            docs.iter()
                .enumerate()
                .map(|(i, t)| PolicyDocument::parse(&format!("p{i}.json"), t).unwrap())
                .collect(),
        )
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(action_matches("*", "ec2:DescribeInstances"));
        assert!(action_matches("ec2:*", "ec2:DescribeInstances"));
        assert!(action_matches("ec2:Describe*", "ec2:DescribeInstances"));
        assert!(action_matches("ec2:Describe*", "ec2:Describe"));
        assert!(action_matches("ec2:*Instances", "ec2:DescribeInstances"));
        assert!(action_matches("ec2:D*e*s", "ec2:DescribeInstances"));
        assert!(action_matches("s3:Get?bject", "s3:GetObject"));
        assert!(action_matches("*:List*", "iam:ListUsers"));
        assert!(!action_matches("s3:Get?bject", "s3:GetObbject"));
        assert!(!action_matches("ec2:Describe*", "ec2:RunInstances"));
        assert!(!action_matches("ec2:Describe*", "ec2messages:DescribeX"));
        assert!(!action_matches(
            "ec2:DescribeInstances",
            "ec2:DescribeInstancesX"
        ));
        assert!(!action_matches("s3:*", "s3express:CreateSession"));
        assert!(action_matches("s3*:*", "s3express:CreateSession"));
    }

    #[test]
    fn action_matching_ignores_case() {
        assert!(action_matches(
            "EC2:describeinstances",
            "ec2:DescribeInstances"
        ));
        assert!(action_matches("ssm:send*", "ssm:SendCommand"));
        let p = set(&[r#"{"Statement":{"Effect":"Allow","Action":"IAM:LISTUSERS"}}"#]);
        assert!(matches!(
            p.decide("iam:ListUsers"),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn not_action_allows_everything_else() {
        let p = set(&[r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}"#]);
        assert!(matches!(
            p.decide("ec2:RunInstances"),
            Decision::Allowed { .. }
        ));
        assert_eq!(p.decide("iam:CreateUser"), Decision::NotGranted);
        assert_eq!(p.decide("organizations:ListAccounts"), Decision::NotGranted);
        // A NotAction statement that covers no used action is reported as a whole.
        assert_eq!(
            p.unused_grants(&["iam:ListUsers"]),
            vec![UnusedGrant {
                document: "p0.json".into(),
                statement: "#1".into(),
                pattern: "NotAction [iam:*, organizations:*]".into(),
                evidence: Evidence::PartlyObservable,
                meaning: Evidence::PartlyObservable.meaning(),
            }]
        );
        assert!(p.unused_grants(&["ec2:DescribeInstances"]).is_empty());
    }

    #[test]
    fn deny_wins_over_allow_and_not_action_deny() {
        let p = set(&[r#"{"Statement":[
            {"Sid":"All","Effect":"Allow","Action":"*"},
            {"Sid":"NoIamWrites","Effect":"Deny","Action":["iam:Create*","iam:Delete*"]},
            {"Sid":"OnlyEc2","Effect":"Deny","NotAction":["ec2:*","iam:*"]}]}"#]);
        assert_eq!(
            p.decide("iam:CreateUser"),
            Decision::Denied {
                by: vec![at("p0.json", "NoIamWrites")]
            }
        );
        assert_eq!(
            p.decide("s3:GetObject"),
            Decision::Denied {
                by: vec![at("p0.json", "OnlyEc2")]
            }
        );
        assert_eq!(
            p.decide("ec2:RunInstances"),
            Decision::Allowed {
                by: vec![at("p0.json", "All")]
            }
        );
        assert!(matches!(
            p.decide("iam:ListUsers"),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn several_documents_are_one_policy() {
        let p = set(&[
            r#"{"Statement":[{"Sid":"Read","Effect":"Allow","Action":["ec2:Describe*","s3:*"]}]}"#,
            r#"{"Statement":[{"Sid":"Ssm","Effect":"Allow","Action":"ssm:SendCommand"},
                            {"Sid":"NoS3Delete","Effect":"Deny","Action":"s3:Delete*"}]}"#,
        ]);
        assert_eq!(
            p.decide("ssm:SendCommand"),
            Decision::Allowed {
                by: vec![at("p1.json", "Ssm")]
            }
        );
        assert_eq!(
            p.decide("s3:DeleteObject"),
            Decision::Denied {
                by: vec![at("p1.json", "NoS3Delete")]
            }
        );
        assert!(matches!(p.decide("s3:GetObject"), Decision::Allowed { .. }));
        assert_eq!(p.decide("iam:ListUsers"), Decision::NotGranted);
        let unused = p.unused_grants(&["ec2:DescribeInstances", "ssm:SendCommand"]);
        assert_eq!(
            unused,
            vec![UnusedGrant {
                document: "p0.json".into(),
                statement: "Read".into(),
                pattern: "s3:*".into(),
                evidence: Evidence::PartlyObservable,
                meaning: Evidence::PartlyObservable.meaning(),
            }]
        );
    }

    #[test]
    fn resource_and_condition_are_reported_not_evaluated() {
        let p = set(&[r#"{"Statement":[
            {"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
            {"Sid":"Ssm","Effect":"Allow","Action":"ssm:*","Resource":["arn:aws:ssm:*:*:document/X"],
             "Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#]);
        assert_eq!(
            p.not_evaluated(),
            vec![NotEvaluated {
                document: "p0.json".into(),
                statement: "Ssm".into(),
                elements: vec!["Resource", "Condition"]
            }]
        );
        // An Allow with them is taken to apply, and the decision names what was not evaluated.
        assert_eq!(
            p.decide("ssm:SendCommand"),
            Decision::Allowed {
                by: vec![StatementRef {
                    document: "p0.json".into(),
                    statement: "Ssm".into(),
                    not_evaluated: vec!["Resource", "Condition"],
                }]
            }
        );
    }

    /// A Deny limited by Resource, NotResource or Condition may not apply to the calls that were
    /// made: it must not turn an allowed action into "denied" (over-reporting).
    #[test]
    fn deny_with_resource_or_condition_is_not_taken_to_apply() {
        let p = set(&[r#"{"Statement":[
            {"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"NoProdDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::prod/*"},
            {"Sid":"OnlyFromVpn","Effect":"Deny","Action":"s3:PutObject","Resource":"*",
             "Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}},
            {"Sid":"ExceptLogs","Effect":"Deny","Action":"s3:GetObject","NotResource":"arn:aws:s3:::logs/*"},
            {"Sid":"NoBuckets","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#]);
        let unless = |sid: &str, elements: Vec<&'static str>| Decision::AllowedUnlessDenied {
            by: vec![at("p0.json", "All")],
            unless: vec![StatementRef {
                document: "p0.json".into(),
                statement: sid.into(),
                not_evaluated: elements,
            }],
        };
        assert_eq!(
            p.decide("s3:DeleteObject"),
            unless("NoProdDelete", vec!["Resource"])
        );
        assert_eq!(
            p.decide("s3:PutObject"),
            unless("OnlyFromVpn", vec!["Condition"])
        );
        assert_eq!(
            p.decide("s3:GetObject"),
            unless("ExceptLogs", vec!["NotResource"])
        );
        // Resource "*" and no Condition: the Deny applies to every request.
        assert_eq!(
            p.decide("s3:DeleteBucket"),
            Decision::Denied {
                by: vec![at("p0.json", "NoBuckets")]
            }
        );
        assert_eq!(
            p.decide("s3:ListBucket"),
            Decision::Allowed {
                by: vec![at("p0.json", "All")]
            }
        );
        // Without an Allow an unevaluated Deny changes nothing: not granted either way.
        assert_eq!(
            set(&[r#"{"Statement":{"Effect":"Deny","Action":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}}"#])
                .decide("ec2:RunInstances"),
            Decision::NotGranted
        );
        assert_eq!(
            at("p0.json", "All").to_string(),
            "p0.json#All",
            "a statement that applies everywhere is named plainly"
        );
        assert_eq!(
            StatementRef {
                document: "p.json".into(),
                statement: "S".into(),
                not_evaluated: vec!["Resource", "Condition"]
            }
            .to_string(),
            "p.json#S (Resource, Condition not evaluated)"
        );
    }

    #[test]
    fn not_action_deny_with_not_resource_is_not_evaluated() {
        let p = set(&[r#"{"Statement":[
            {"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"OnlyTagged","Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:ec2:*:*:instance/*"}]}"#]);
        assert!(matches!(
            p.decide("ec2:StopInstances"),
            Decision::AllowedUnlessDenied { .. }
        ));
        // NotAction excludes iam:*: that Deny does not cover it at all.
        assert_eq!(
            p.decide("iam:ListUsers"),
            Decision::Allowed {
                by: vec![at("p0.json", "Admin")]
            }
        );
    }

    #[test]
    fn invalid_json_reports_the_position() {
        let e = PolicyDocument::parse(
            "v.json",
            "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",, }\n  ]\n}",
        )
        .unwrap_err();
        match &e {
            PolicyError::Json { line, column, .. } => assert_eq!((*line, *column), (3, 24)),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("line 3, column 24"), "{e}");
        let e = PolicyDocument::parse(
            "v.json",
            "{\"Statement\": {\"Effect\": \"Alow\", \"Action\": \"*\"}}",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("v.json is not a valid IAM policy document"),
            "{e}"
        );
        let e = PolicyDocument::parse(
            "v.json",
            r#"{"Statement": [{"Effect": "Allow", "Actions": "*"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Actions"), "{e}");
        let e = PolicyDocument::parse(
            "v.json",
            r#"{"Statement": [{"Sid":"A","Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.json, statement A: has both Action and NotAction"
        );
        let e = PolicyDocument::parse(
            "v.json",
            r#"{"Statement": [{"Effect":"Allow","Action":"s3"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("statement #1"), "{e}");
    }
}

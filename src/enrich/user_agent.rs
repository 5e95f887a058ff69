//! PLACEHOLDER until the user-agent parser lands (being written in parallel): same interface,
//! classifies everything as `other`.
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EcsUserAgent {}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AwsUserAgent {
    pub kind: Kind,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedUserAgent {
    pub ecs: EcsUserAgent,
    pub aws: AwsUserAgent,
}

pub fn parse(_original: &str) -> ParsedUserAgent {
    ParsedUserAgent::default()
}

pub struct UserAgentCache;

impl UserAgentCache {
    pub fn new(_capacity: usize) -> Self {
        UserAgentCache
    }
    pub fn get(&self, original: &str) -> std::sync::Arc<ParsedUserAgent> {
        std::sync::Arc::new(parse(original))
    }
}

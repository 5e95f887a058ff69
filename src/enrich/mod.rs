//! Enrichment: what trailscope adds to a CloudTrail record. Pure functions over one event (the
//! caches are the only shared state), so they are easy to test and to benchmark.

pub mod user_agent;

use crate::event::cloudtrail::CloudTrailRecord;
use crate::event::iam_action::iam_action;
use std::sync::Arc;
use user_agent::{ParsedUserAgent, UserAgentCache};

/// What enrichment found for one record.
#[derive(Debug, Default)]
pub struct Enrichment {
    pub iam_action: Option<String>,
    pub user_agent: Option<Arc<ParsedUserAgent>>,
}

/// Shared by every event of a pipeline.
pub struct Enricher {
    user_agents: UserAgentCache,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher {
            user_agents: UserAgentCache::new(4096),
        }
    }
}

impl Enricher {
    pub fn enrich(&self, record: &CloudTrailRecord<'_>) -> Enrichment {
        Enrichment {
            iam_action: record
                .event_source
                .as_deref()
                .and_then(|source| iam_action(source, &record.event_name)),
            user_agent: record
                .user_agent
                .as_deref()
                .map(|ua| self.user_agents.get(ua)),
        }
    }
}

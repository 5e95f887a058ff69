//! Enrichment: what trailscope adds to a CloudTrail record. Pure functions over one event (the
//! caches are the only shared state), so they are easy to test and to benchmark.

mod cache;
pub mod geoip;
pub mod user_agent;

use crate::event::cloudtrail::CloudTrailRecord;
use crate::event::iam_action::{iam_actions, IamActions};
use geoip::{AutonomousSystem, Geo, GeoIp};
use std::sync::Arc;
use user_agent::{CachedUserAgent, UserAgentCache};

/// What enrichment found for one record.
#[derive(Debug, Default)]
pub struct Enrichment {
    /// `aws.cloudtrail.iam_action` and, for calls that need several, `iam_actions`.
    pub iam: Option<IamActions>,
    pub user_agent: Option<Arc<CachedUserAgent>>,
    /// `source.geo.*`, when a GeoIP database is configured and knows the public source address.
    pub geo: Option<Arc<Geo>>,
    /// `source.as.*`, when an ASN database is configured and knows the public source address.
    pub autonomous_system: Option<Arc<AutonomousSystem>>,
}

/// Shared by every event of a pipeline.
pub struct Enricher {
    user_agents: UserAgentCache,
    geoip: Option<Arc<GeoIp>>,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher {
            user_agents: UserAgentCache::new(4096),
            geoip: None,
        }
    }
}

impl Enricher {
    /// Adds `source.geo.*` / `source.as.*` from these databases.
    pub fn with_geoip(mut self, geoip: Arc<GeoIp>) -> Self {
        self.geoip = Some(geoip);
        self
    }

    pub fn enrich(&self, record: &CloudTrailRecord<'_>) -> Enrichment {
        let located = match (&self.geoip, record.source_ip_address.as_deref()) {
            (Some(g), Some(address)) => g.lookup_address(address),
            _ => Default::default(),
        };
        Enrichment {
            geo: located.geo,
            autonomous_system: located.autonomous_system,
            iam: record
                .event_source
                .as_deref()
                .and_then(|source| iam_actions(source, &record.event_name)),
            user_agent: record
                .user_agent
                .as_deref()
                .map(|ua| self.user_agents.get(ua)),
        }
    }
}

//! trailscope: forwards CloudTrail events from CloudWatch Logs into OpenSearch, enriched so that a
//! person can see what an AWS identity is doing.
//!
//! Data flows one way: source → decode → enrich → sink → checkpoint.

pub mod audit;
pub mod commands;
pub mod config;
pub mod enrich;
pub mod event;
pub mod exit;
pub mod findings;
pub mod lineage;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod secret;
pub mod sink;
pub mod source;
pub mod stats;
pub mod stdout;
pub mod transport;

//! Daily indices cost shards, and a cluster has a limit: `cluster.max_shards_per_node` (1,000 by
//! default) × its data nodes. Past it OpenSearch creates no index for anyone — not tomorrow's
//! daily index, not another application's. Two years of history backfilled into daily indices
//! of one primary and one replica on a one-node cluster pass it (1,460 shards), so a backfill
//! could stop a cluster's other work.
//!
//! So before a batch creates indices the sink asks the cluster how many shards it has left, and
//! an index for events older than yesterday is created only while a tenth of the limit stays
//! free for others (today's and yesterday's may use that reserve: live events need them). The
//! events of an index not created are dead-lettered with a sentence naming the fixes; nothing is
//! lost and `ingest --replay-dead-letters` sends them once there is room.
//!
//! The cluster is asked only when a batch holds an index this run has not met: once per run and
//! day in steady operation.

use super::opensearch::{truncate, Client};
use chrono::{NaiveDate, Utc};
use opensearch::http::Method;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A new index of the default settings: one primary, one replica.
const DEFAULT_SHARDS_PER_INDEX: u64 = 2;

/// What the cluster holds and allows, as far as the budget needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster {
    /// `cluster.max_shards_per_node` × data nodes.
    pub limit: u64,
    /// Shards of open indices, assigned or not (OpenSearch counts both against the limit).
    pub used: u64,
}

/// Why an index was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
}

/// Which of `new` (index name, whether its events are from today or yesterday) may be created,
/// in order, each costing `per_index` shards: an old day's index only while a tenth of the
/// limit stays free after it, a recent one up to the limit itself.
pub fn decide(cluster: Cluster, per_index: u64, new: &[(&str, bool)]) -> Vec<Option<Refusal>> {
    let reserve = cluster.limit / 10;
    let mut used = cluster.used;
    new.iter()
        .map(|&(index, recent)| {
            let ceiling = if recent {
                cluster.limit
            } else {
                cluster.limit.saturating_sub(reserve)
            };
            if used + per_index <= ceiling {
                used += per_index;
                return None;
            }
            Some(Refusal {
                reason: format!(
                    "not indexed: creating index {index} ({per_index} shards) would bring the \
                     cluster to {} of its {} shards (cluster.max_shards_per_node × data nodes), \
                     and trailscope keeps {reserve} free for the cluster's other work{}. Free \
                     shards (`trailscope retention --keep ...` deletes old daily indices), narrow \
                     --max-event-age to what you backfill, or raise cluster.max_shards_per_node; \
                     then send these events again with `trailscope ingest --replay-dead-letters`",
                    used + per_index,
                    cluster.limit,
                    if recent {
                        " (today's and yesterday's indices may use them; this one would pass the \
                         limit itself)"
                    } else {
                        ""
                    },
                ),
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{what}: HTTP {status}: {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("{what}: {missing} is missing from the answer")]
    Unreadable {
        what: &'static str,
        missing: &'static str,
    },
    #[error(transparent)]
    Connect(#[from] super::opensearch::ConnectError),
}

/// The sink's guard: remembers the indices that exist, asks the cluster before creating more.
pub struct ShardBudget {
    client: Client,
    /// `<prefix>*`
    pattern: String,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Indices of the pattern known to exist (or admitted by this run).
    known: HashSet<String>,
    /// The existing indices were listed (once per run).
    listed: bool,
    /// Shards a new index will have: as many as the largest existing index of the pattern (a
    /// template changed since may have made them smaller; the guard errs on the safe side).
    per_index: Option<u64>,
    /// A refusal was explained in full.
    told: bool,
    /// The cluster could not be asked (a missing permission): said once, then the guard is off
    /// and OpenSearch's own limit is the only one.
    off: bool,
}

impl ShardBudget {
    pub fn new(client: Client, index_prefix: &str) -> ShardBudget {
        ShardBudget {
            client,
            pattern: format!("{index_prefix}*"),
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// For the distinct index names of a batch: the refusal of each index that must not be
    /// created now. Empty (and no request) when every index exists already.
    pub async fn admit<'a>(
        &self,
        indices: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<String, Refusal> {
        let mut state = self.state.lock().await;
        if state.off {
            return HashMap::new();
        }
        let mut new: Vec<&str> = Vec::new();
        for index in indices {
            if !state.known.contains(index) && !new.contains(&index) {
                new.push(index);
            }
        }
        if new.is_empty() {
            return HashMap::new();
        }
        match self.ask(&mut state, &mut new).await {
            Ok(refusals) => refusals,
            Err(e) => {
                state.off = true;
                tracing::warn!(
                    "cannot read how many shards the cluster has left ({e}): new daily indices \
                     are created without trailscope's shard reserve. Give the user the \
                     trailscope_writer role of deploy/opensearch-roles (cluster:monitor/health, \
                     cluster:monitor/state, indices:monitor/settings/get on the indices), or \
                     ignore this on a cluster with shards to spare"
                );
                HashMap::new()
            }
        }
    }

    async fn ask(
        &self,
        state: &mut State,
        new: &mut Vec<&str>,
    ) -> Result<HashMap<String, Refusal>, ReadError> {
        if !state.listed {
            let existing = self.existing().await?;
            state.per_index = existing.iter().map(|(_, shards)| *shards).max();
            state
                .known
                .extend(existing.into_iter().map(|(name, _)| name));
            state.listed = true;
            new.retain(|index| !state.known.contains(*index));
            if new.is_empty() {
                return Ok(HashMap::new());
            }
        }
        let cluster = self.cluster().await?;
        let today = Utc::now().date_naive();
        let recent: Vec<(&str, bool)> = new
            .iter()
            .map(|index| {
                let day = index
                    .strip_prefix(self.pattern.trim_end_matches('*'))
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y.%m.%d").ok());
                (*index, day.is_some_and(|d| (today - d).num_days() <= 1))
            })
            .collect();
        let per_index = state.per_index.unwrap_or(DEFAULT_SHARDS_PER_INDEX);
        let mut refusals = HashMap::new();
        for ((index, _), refusal) in recent.iter().zip(decide(cluster, per_index, &recent)) {
            match refusal {
                None => {
                    state.known.insert((*index).to_owned());
                }
                Some(refusal) => {
                    // The whole sentence once; a backfill may meet hundreds of such days.
                    if !state.told {
                        state.told = true;
                        tracing::warn!(index, "{}", refusal.reason);
                    } else {
                        tracing::warn!(
                            index,
                            "index {index} not created either: the cluster's shard reserve is \
                             reached (see the first such warning); its events are dead-lettered"
                        );
                    }
                    refusals.insert((*index).to_owned(), refusal);
                }
            }
        }
        Ok(refusals)
    }

    /// The open indices of the pattern and the shards each has (primaries × (1 + replicas)).
    async fn existing(&self) -> Result<Vec<(String, u64)>, ReadError> {
        let what = "reading the indices' shard settings";
        let path = format!(
            "/{}/_settings/index.number_of_shards,index.number_of_replicas",
            self.pattern
        );
        let (status, answer) = self
            .client
            .json(
                Method::Get,
                &path,
                &[("expand_wildcards", "open"), ("flat_settings", "true")],
                None,
            )
            .await?;
        if status != 200 {
            return Err(refused(what, status, &answer));
        }
        let indices = answer.as_object().ok_or(ReadError::Unreadable {
            what,
            missing: "the indices",
        })?;
        Ok(indices
            .iter()
            .map(|(name, v)| {
                let number = |key: &str| {
                    v["settings"][key]
                        .as_str()
                        .and_then(|n| n.parse::<u64>().ok())
                };
                let shards = number("index.number_of_shards").unwrap_or(1)
                    * (1 + number("index.number_of_replicas").unwrap_or(1));
                (name.clone(), shards)
            })
            .collect())
    }

    async fn cluster(&self) -> Result<Cluster, ReadError> {
        let what = "reading the cluster's health";
        let (status, health) = self
            .client
            .json(Method::Get, "/_cluster/health", &[], None)
            .await?;
        if status != 200 {
            return Err(refused(what, status, &health));
        }
        let count = |key: &'static str| {
            health[key]
                .as_u64()
                .ok_or(ReadError::Unreadable { what, missing: key })
        };
        let used =
            count("active_shards")? + count("initializing_shards")? + count("unassigned_shards")?;
        let nodes = count("number_of_data_nodes")?.max(1);
        Ok(Cluster {
            limit: self.max_shards_per_node().await? * nodes,
            used,
        })
    }

    /// The cluster's setting as it applies (transient over persistent over the node's value or
    /// default). Not guessed when it can't be read: a cluster whose limit was raised would see
    /// its new indices refused.
    async fn max_shards_per_node(&self) -> Result<u64, ReadError> {
        let what = "reading cluster.max_shards_per_node";
        let (status, body) = self
            .client
            .json(
                Method::Get,
                "/_cluster/settings",
                &[("include_defaults", "true"), ("flat_settings", "true")],
                None,
            )
            .await?;
        if status != 200 {
            return Err(refused(what, status, &body));
        }
        ["transient", "persistent", "defaults"]
            .iter()
            .find_map(|scope| {
                body[scope]["cluster.max_shards_per_node"]
                    .as_str()?
                    .parse()
                    .ok()
            })
            .ok_or(ReadError::Unreadable {
                what,
                missing: "cluster.max_shards_per_node",
            })
    }
}

fn refused(what: &'static str, status: u16, answer: &Value) -> ReadError {
    ReadError::Refused {
        what,
        status,
        body: truncate(&answer.to_string(), 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(decisions: &[Option<Refusal>]) -> Vec<bool> {
        decisions.iter().map(Option::is_none).collect()
    }

    #[test]
    fn old_days_leave_a_tenth_of_the_limit_free() {
        // 1,000 shards, 880 used: 900 is the ceiling for old days (100 kept free).
        let cluster = Cluster {
            limit: 1_000,
            used: 880,
        };
        let new = [
            ("c-2024.01.01", false),
            ("c-2024.01.02", false),
            ("c-2024.01.03", false),
            ("c-2024.01.04", false),
        ];
        let got = decide(cluster, 2, &new);
        assert_eq!(admitted(&got), [true, true, true, true]);
        let got = decide(
            Cluster {
                used: 896,
                ..cluster
            },
            2,
            &new,
        );
        assert_eq!(admitted(&got), [true, true, false, false]);
        let reason = &got[2].as_ref().unwrap().reason;
        assert!(reason.contains("creating index c-2024.01.03 (2 shards) would bring the cluster to 902 of its 1000 shards"), "{reason}");
        assert!(reason.contains("--replay-dead-letters"), "{reason}");
    }

    #[test]
    fn recent_days_may_use_the_reserve_up_to_the_limit() {
        let cluster = Cluster {
            limit: 1_000,
            used: 995,
        };
        let got = decide(
            cluster,
            2,
            &[
                ("c-old", false),
                ("c-today", true),
                ("c-yesterday", true),
                ("c-x", true),
            ],
        );
        assert_eq!(admitted(&got), [false, true, true, false]);
    }

    #[test]
    fn a_full_or_overfull_cluster_creates_nothing() {
        let got = decide(
            Cluster {
                limit: 10,
                used: 12,
            },
            2,
            &[("a", true), ("b", false)],
        );
        assert_eq!(admitted(&got), [false, false]);
    }
}

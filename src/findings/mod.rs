//! First-seen findings, continuously: after a batch is delivered and before its events are
//! acknowledged, the events are compared with what their identity did before, and what it never
//! did is written as a finding. The baseline is the indexed events themselves (so it survives
//! restarts); a bounded [`memory::Memory`] spares the queries for what is already known.
//!
//! Per batch, at most one `_msearch` for identities not met yet (when did their history start),
//! one for values not known yet (seen before this event's time?) and the hours with denied calls
//! not counted yet; then, only when there are findings, the lineage of their credentials and one
//! `_bulk` of `create`s. A steady stream of known habits costs no query at all.

mod baseline;
pub mod finding;
pub mod integrity;
pub mod kind;
pub mod memory;
pub mod output;
pub mod registry;
pub mod store;

use crate::audit::policy::Decision;
use crate::event::facts::{authorization_failure_query, is_temporary, Facts, Identity};
use crate::sink::bulk::BulkItem;
use crate::sink::opensearch::{truncate, Client, ConnectError};
use baseline::Question;
use chrono::{DateTime, DurationRound, Utc};
use finding::Finding;
use kind::{sensitive, Kind, Severity};
use memory::{identity_hash, value_hash, value_hash_of, Burst, Denial, Memory};
use output::Outputs;
use registry::{Registered, RegistryError};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// How deep a chain of minted credentials is followed to its root.
const MAX_LINEAGE_DEPTH: usize = 6;
/// Searches in one `_msearch` request.
const SEARCHES_PER_REQUEST: usize = 200;
const MINTED_KEY: &str = "aws.cloudtrail.flattened.response_elements.credentials.accessKeyId";

#[derive(Debug, Clone)]
pub struct Settings {
    /// The findings index.
    pub index: String,
    /// The events' index pattern (`<prefix>*`): the baseline.
    pub events: String,
    /// History an identity needs before anything it does is called new.
    pub learning: chrono::Duration,
    /// Events before this are baseline only.
    pub from: DateTime<Utc>,
    /// Authorization failures in one hour that make a burst.
    pub denied_burst: usize,
    /// The registered policies' index (`trailscope policy set`), read for `not_granted`.
    pub policies: String,
    /// How often the registered policies are read again, so that `policy set` takes effect
    /// in a running `forward` without a restart.
    pub policies_refresh: std::time::Duration,
    /// The lineage index, read first when a credential's parent is not in memory (`None`:
    /// `--no-lineage`, the events are searched only).
    pub lineage: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Policies(#[from] RegistryError),
    #[error(transparent)]
    Lineage(#[from] crate::lineage::LineageError),
    #[error("OpenSearch refused {what} (HTTP {status}): {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    /// The OpenSearch user lacks a permission the findings need: a deployment mistake with a
    /// known fix, told as such (and exit code 3, as other refused permissions).
    #[error(
        "OpenSearch refused {what} (HTTP {status}): the user lacks a permission the findings need. \
         Give it the trailscope_writer role of deploy/opensearch-roles (`trailscope setup \
         --print-roles`), which covers them, or run with --no-findings. OpenSearch said: {body}"
    )]
    Forbidden {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("OpenSearch answered {what} without {missing}")]
    Unreadable {
        what: &'static str,
        missing: &'static str,
    },
    #[error("cannot encode a finding: {0}")]
    Encode(serde_json::Error),
    #[error("cannot set up the findings webhook {url}: {message}")]
    Webhook { url: String, message: String },
    #[error("cannot write findings to {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FindingsError {
    /// OpenSearch's refusal of `what`: a missing permission (401/403) is told apart.
    pub fn refused(what: &'static str, status: u16, body: String) -> Self {
        if status == 401 || status == 403 {
            FindingsError::Forbidden { what, status, body }
        } else {
            FindingsError::Refused { what, status, body }
        }
    }
}

pub struct Findings {
    client: Client,
    settings: Settings,
    /// One batch at a time: the next one sees what this one learnt. Delivery of other batches
    /// goes on meanwhile; only their acknowledgement waits.
    memory: tokio::sync::Mutex<Memory>,
    /// The registered policies and when they were read.
    registered: tokio::sync::Mutex<(Instant, Arc<Registered>)>,
    outputs: Outputs,
}

/// A value of one kind an event brings, and the filter that finds it among indexed events.
struct Candidate<'a> {
    facts: &'a Facts,
    event_id: &'a str,
    kind: Kind,
    value: String,
    filter: Value,
    /// Why, when the kind alone does not say it (`not_granted`: which policy, which statement).
    note: Option<String>,
}

impl Findings {
    /// Creates the findings index when missing and reads the registered policies (a missing
    /// policies index is none registered; a refused read stops the start: exit code 3).
    pub async fn start(
        client: Client,
        settings: Settings,
        outputs: Outputs,
    ) -> Result<Findings, FindingsError> {
        store::ensure_index(&client, &settings.index).await?;
        let registered = Registered::load(&client, &settings.policies).await?;
        Ok(Findings {
            client,
            settings,
            memory: tokio::sync::Mutex::new(Memory::default()),
            registered: tokio::sync::Mutex::new((Instant::now(), Arc::new(registered))),
            outputs,
        })
    }

    /// The registered policies, read again when older than the refresh interval. A failed
    /// refresh keeps the ones read before (with a warning): indexing goes on, and the next
    /// interval tries again.
    async fn registered(&self) -> Arc<Registered> {
        let mut r = self.registered.lock().await;
        if r.0.elapsed() >= self.settings.policies_refresh {
            match Registered::load(&self.client, &self.settings.policies).await {
                Ok(fresh) => r.1 = Arc::new(fresh),
                Err(e) => tracing::warn!(
                    "cannot read the registered policies again, going on with those read \
                     before: {e}"
                ),
            }
            r.0 = Instant::now();
        }
        r.1.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Evaluates the delivered `items` and writes their findings (index, then the outputs).
    /// Returns the findings written for the first time.
    pub async fn evaluate(&self, items: &[BulkItem]) -> Result<Vec<Finding>, FindingsError> {
        let mut events: Vec<(&Facts, &str)> = items
            .iter()
            .filter_map(|i| i.facts.as_deref().map(|f| (f, &*i.id)))
            .collect();
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // The earliest event with a value is the one that brought it.
        events.sort_by(|a, b| (a.0.time, a.1).cmp(&(b.0.time, b.1)));
        let started = std::time::Instant::now();
        let mut memory = self.memory.lock().await;
        for (f, _) in &events {
            if let Some(minted) = &f.minted_key {
                let parent = f.access_key.as_deref().unwrap_or(f.identity.as_str());
                memory.minted.insert(minted.clone(), parent.into());
            }
        }
        self.learn_first_seen(&mut memory, &events).await?;
        let not_granted = self.not_granted(&mut memory, &events).await?;

        let mut candidates: BTreeMap<u64, Candidate> = BTreeMap::new();
        let mut denied: HashMap<(u64, i64), (&Facts, Vec<Denial>)> = HashMap::new();
        for &(f, id) in &events {
            let identity = identity_hash(&f.identity);
            let past_learning = memory
                .first_seen
                .get(&identity)
                .is_some_and(|first| f.time.timestamp_millis() - first >= self.learning_ms());
            if f.time < self.settings.from || !past_learning {
                // Baseline: what it brings is known from now on.
                for (kind, value) in values_of(f) {
                    memory
                        .known
                        .insert(value_hash_of(identity, kind, &value), ());
                }
                continue;
            }
            for (kind, value) in values_of(f) {
                let key = value_hash_of(identity, kind, &value);
                if memory.known.get(&key).is_none() {
                    candidates.entry(key).or_insert_with(|| Candidate {
                        facts: f,
                        event_id: id,
                        kind,
                        filter: filter_of(f, kind),
                        value: value.into_owned(),
                        note: None,
                    });
                }
            }
            if f.denied {
                let hour = hour_of(f.time);
                denied
                    .entry((identity, hour))
                    .or_insert_with(|| (f, Vec::new()))
                    .1
                    .push((f.time.timestamp_millis(), id.into()));
            }
        }

        // One round trip: each candidate seen before its event? each new hour's earlier denials?
        let candidates: Vec<(u64, Candidate)> = candidates.into_iter().collect();
        let unseeded: Vec<(u64, i64)> = denied
            .keys()
            .filter(|k| memory.denied.get(*k).is_none())
            .copied()
            .collect();
        let questions: Vec<Question> = candidates
            .iter()
            .map(|(_, c)| Question {
                identity: &c.facts.identity,
                kind: c.kind,
                value: &c.value,
                filter: &c.filter,
                time: c.facts.time,
            })
            .collect();
        let mut plan = baseline::plan(&questions);
        let mut searches = std::mem::take(&mut plan.searches);
        let asked = searches.len();
        searches.extend(
            unseeded
                .iter()
                .map(|k| denied_in_hour(&denied[k].0.identity, k.1, self.settings.denied_burst)),
        );
        let answers = self.msearch(&searches).await?;
        tracing::debug!(
            events = events.len(),
            searches = searches.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "findings: baseline searched"
        );
        let (answered, seeds) = answers.split_at(asked);
        let seen = plan.seen(&questions, answered)?;
        drop(questions);

        // With the first failure of the hour for a burst.
        let mut new: Vec<(Candidate, Option<Denial>)> =
            not_granted.into_iter().map(|c| (c, None)).collect();
        for ((key, candidate), seen) in candidates.into_iter().zip(seen) {
            memory.known.insert(key, ());
            if !seen {
                new.push((candidate, None));
            }
        }
        for (key, answer) in unseeded.iter().zip(seeds) {
            let mut burst = Burst::default();
            burst.add(hits_as_events(answer)?, self.settings.denied_burst);
            memory.denied.insert(*key, burst);
        }
        for (key, (f, batch)) in denied {
            let Some(mut burst) = memory.denied.get_mut(&key) else {
                continue;
            };
            burst.add(batch, self.settings.denied_burst);
            if !burst.told && burst.events.len() >= self.settings.denied_burst {
                burst.told = true;
                let (time, id) = burst.events[0].clone();
                let hour = DateTime::from_timestamp_millis(key.1).unwrap_or(f.time);
                new.push((
                    Candidate {
                        facts: f,
                        event_id: "",
                        kind: Kind::DeniedBurst,
                        value: format!(
                            "{}+ authorization failures in the hour from {}",
                            self.settings.denied_burst,
                            hour.format("%Y-%m-%dT%H:00Z")
                        ),
                        filter: Value::Null,
                        note: None,
                    },
                    Some((time, id)),
                ));
            }
        }
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = new
            .iter()
            .filter_map(|(c, _)| c.facts.access_key.as_deref())
            .collect();
        self.resolve_lineage(&mut memory, &keys).await?;
        let now = Utc::now();
        let findings: Vec<Finding> = new
            .into_iter()
            .map(|(c, burst_first)| finding(&memory, c, burst_first, now))
            .collect();
        drop(memory);
        let created = store::create(&self.client, &self.settings.index, &findings).await?;
        let fresh: Vec<Finding> = findings
            .into_iter()
            .zip(created)
            .filter_map(|(f, created)| created.then_some(f))
            .collect();
        for f in &fresh {
            tracing::info!(
                identity = %f.identity,
                kind = f.kind.as_str(),
                value = %f.value,
                severity = ?f.severity,
                "finding: {}",
                f.reason
            );
        }
        self.outputs.write(&fresh).await?;
        Ok(fresh)
    }

    /// Writes findings made elsewhere than from events (log file integrity) to the index and
    /// the outputs, as [`Findings::evaluate`] writes its own; returns those new to the index.
    pub async fn record(&self, findings: Vec<Finding>) -> Result<Vec<Finding>, FindingsError> {
        let created = store::create(&self.client, &self.settings.index, &findings).await?;
        let fresh: Vec<Finding> = findings
            .into_iter()
            .zip(created)
            .filter_map(|(f, created)| created.then_some(f))
            .collect();
        self.outputs.write(&fresh).await?;
        Ok(fresh)
    }

    /// The batch's actions that the policy registered for their identity does not grant, once
    /// per identity and action. No learning period: a policy is a statement of what the
    /// identity may do, not a habit to learn. Events before `--findings-from` are still left out
    /// (a backfill does not report the past unless asked).
    ///
    /// Which policy: the one registered for the call's access key, else for its identity (the
    /// role of a role session, the principal ARN), else, for temporary credentials that are not
    /// a role session (GetSessionToken, GetFederationToken), the one of their lineage root:
    /// those credentials never have more permissions than the user who minted them. A role
    /// session has the role's permissions, not its minter's: its root's policy does not apply.
    ///
    /// Calls refused for lack of permission do not count: AWS enforced a policy there, and
    /// what the finding tells is an identity doing what its registered policy does not allow
    /// (an outdated registration, or permissions granted outside it); probing is `denied_burst`.
    /// Other errors (a missing bucket, a throttled call) passed authorization: they count.
    ///
    /// Only two decisions make a finding: `NotGranted` (no Allow covers the action) and
    /// `Denied` (a Deny that applies to every request). An Allow limited by a Condition or a
    /// Resource is taken to apply, and a Deny so limited is taken not to (`AllowedUnlessDenied`):
    /// what the events cannot show must not become a false `not_granted`.
    async fn not_granted<'a>(
        &self,
        memory: &mut Memory,
        events: &[(&'a Facts, &'a str)],
    ) -> Result<Vec<Candidate<'a>>, FindingsError> {
        let registered = self.registered().await;
        if registered.is_empty() {
            return Ok(Vec::new());
        }
        let counted: Vec<(&Facts, &str, &str)> = events
            .iter()
            .filter(|(f, _)| f.time >= self.settings.from && !f.denied)
            .filter_map(|&(f, id)| f.action.as_deref().map(|a| (f, id, a)))
            .collect();
        if registered.has_access_keys() {
            let keys: Vec<&str> = counted
                .iter()
                .filter(|(f, _, _)| own_policy(&registered, f).is_none() && !is_role_session(f))
                .filter_map(|(f, _, _)| f.access_key.as_deref())
                .collect();
            self.resolve_lineage(memory, &keys).await?;
        }
        let mut out = Vec::new();
        for (f, id, action) in counted {
            let Some((holder, set)) = policy_for(&registered, memory, f) else {
                continue;
            };
            let key = value_hash(&f.identity, Kind::NotGranted, action);
            if memory.known.get(&key).is_some() {
                continue;
            }
            let why = match set.decide(action) {
                Decision::NotGranted => "no statement allows it".to_owned(),
                Decision::Denied { by } => {
                    let by: Vec<String> = by.iter().map(ToString::to_string).collect();
                    format!("explicitly denied by {}", by.join(", "))
                }
                Decision::Allowed { .. } | Decision::AllowedUnlessDenied { .. } => continue,
            };
            memory.known.insert(key, ());
            out.push(Candidate {
                facts: f,
                event_id: id,
                kind: Kind::NotGranted,
                value: action.to_owned(),
                filter: Value::Null,
                note: Some(format!(
                    "{action} is outside the policy registered for {holder}: {why}"
                )),
            });
        }
        Ok(out)
    }

    fn learning_ms(&self) -> i64 {
        self.settings.learning.num_milliseconds()
    }

    /// When the history of each identity of the batch starts: the index knows for identities
    /// met before; for a new one its first event in this batch (not searchable yet) is its first.
    async fn learn_first_seen(
        &self,
        memory: &mut Memory,
        events: &[(&Facts, &str)],
    ) -> Result<(), FindingsError> {
        let mut earliest: HashMap<u64, (&Identity, i64)> = HashMap::new();
        for (f, _) in events {
            earliest
                .entry(identity_hash(&f.identity))
                .or_insert((&f.identity, f.time.timestamp_millis()));
        }
        let unknown: Vec<(u64, &Identity, i64)> = earliest
            .iter()
            .filter(|(h, _)| memory.first_seen.get(*h).is_none())
            .map(|(h, (i, t))| (*h, *i, *t))
            .collect();
        // One aggregation per identity field (access key, issuer, ARN), not one search per
        // identity: a first batch meets hundreds of identities at once.
        let mut by_field: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for (_, identity, _) in &unknown {
            by_field
                .entry(identity.field())
                .or_default()
                .push(identity.as_str());
        }
        let searches: Vec<Value> = by_field
            .iter()
            .map(|(field, values)| {
                json!({"size": 0, "query": {"terms": {*field: values}},
                    "aggs": {"ids": {"terms": {"field": *field, "include": values,
                        "size": values.len()},
                        "aggs": {"first": {"min": {"field": "@timestamp"}}}}}})
            })
            .collect();
        let started = std::time::Instant::now();
        let answers = self.msearch(&searches).await?;
        tracing::debug!(
            identities = unknown.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "findings: identities' history searched"
        );
        let mut indexed: HashMap<(&str, &str), i64> = HashMap::new();
        for ((field, _), answer) in by_field.iter().zip(&answers) {
            let buckets = answer["aggregations"]["ids"]["buckets"].as_array();
            let buckets = buckets.ok_or(FindingsError::Unreadable {
                what: "the identities' history search",
                missing: "buckets",
            })?;
            for b in buckets {
                if let (Some(key), Some(first)) = (b["key"].as_str(), b["first"]["value"].as_f64())
                {
                    indexed.insert((field, key), first as i64);
                }
            }
        }
        for (hash, identity, batch_first) in unknown {
            let first = indexed
                .get(&(identity.field(), identity.as_str()))
                .map_or(batch_first, |t| (*t).min(batch_first));
            memory.first_seen.insert(hash, first);
        }
        Ok(())
    }

    /// Follows each temporary key to the credential that minted it, through the minting events
    /// of this run and, for the rest, the lineage index (one `_mget` per level, by id) and, for
    /// keys it has no document of, the indexed events (one `_msearch` per level): events indexed
    /// before the lineage index existed, or with `--no-lineage`, have no document there.
    async fn resolve_lineage(
        &self,
        memory: &mut Memory,
        keys: &[&str],
    ) -> Result<(), FindingsError> {
        let mut pending: Vec<Box<str>> = keys
            .iter()
            .filter(|k| is_temporary(k))
            .map(|k| Box::from(*k))
            .collect();
        for _ in 0..MAX_LINEAGE_DEPTH {
            let mut unknown = Vec::new();
            let mut next = Vec::new();
            for key in pending {
                match memory.minted.get(&key) {
                    Some(parent) if is_temporary(parent) => next.push(parent.clone()),
                    Some(_) => {}
                    None => unknown.push(key),
                }
            }
            if let Some(index) = &self.settings.lineage {
                let asked: Vec<&str> = unknown.iter().map(|k| &**k).collect();
                let found = crate::lineage::store::get(&self.client, index, &asked).await?;
                unknown.retain(|key| {
                    let Some(parent) = found.get(&**key).and_then(|m| m.parent.as_deref()) else {
                        return true;
                    };
                    if is_temporary(parent) {
                        next.push(parent.into());
                    }
                    memory.minted.insert(key.clone(), parent.into());
                    false
                });
            }
            let searches: Vec<Value> = unknown
                .iter()
                .map(|k| {
                    json!({"size": 1, "_source": ["aws.cloudtrail.user_identity.access_key_id",
                    "aws.cloudtrail.user_identity.arn"],
                    "query": {"bool": {"filter": [
                        {"terms": {"event.action": crate::event::facts::MINTING_EVENTS}},
                        {"term": {MINTED_KEY: &**k}}
                    ]}}})
                })
                .collect();
            let answers = self.msearch(&searches).await?;
            for (key, answer) in unknown.into_iter().zip(&answers) {
                let who =
                    &answer["hits"]["hits"][0]["_source"]["aws"]["cloudtrail"]["user_identity"];
                let parent = who["access_key_id"]
                    .as_str()
                    .filter(|k| !k.is_empty())
                    .or(who["arn"].as_str());
                if let Some(parent) = parent {
                    if is_temporary(parent) {
                        next.push(parent.into());
                    }
                    memory.minted.insert(key, parent.into());
                }
            }
            if next.is_empty() {
                break;
            }
            pending = next;
        }
        Ok(())
    }

    /// `_msearch`es over the events, at most [`SEARCHES_PER_REQUEST`] searches each, one after
    /// the other (the cluster gets a bounded piece of work at a time); the answers in order. No
    /// search, no request.
    async fn msearch(&self, searches: &[Value]) -> Result<Vec<Value>, FindingsError> {
        let mut answers = Vec::with_capacity(searches.len());
        for chunk in searches.chunks(SEARCHES_PER_REQUEST) {
            answers.extend(self.msearch_once(chunk).await?);
        }
        Ok(answers)
    }

    async fn msearch_once(&self, searches: &[Value]) -> Result<Vec<Value>, FindingsError> {
        let header = json!({"index": self.settings.events, "ignore_unavailable": true,
            "allow_no_indices": true})
        .to_string();
        let mut body = String::new();
        for s in searches {
            body.push_str(&header);
            body.push('\n');
            body.push_str(&s.to_string());
            body.push('\n');
        }
        let (status, answer) = self.client.ndjson("/_msearch", body).await?;
        if status != 200 {
            return Err(FindingsError::refused(
                "the baseline searches",
                status,
                truncate(&answer.to_string(), 500),
            ));
        }
        let responses = answer["responses"]
            .as_array()
            .filter(|r| r.len() == searches.len())
            .ok_or(FindingsError::Unreadable {
                what: "the baseline searches",
                missing: "one response per search",
            })?;
        // A failed search must not read as "never seen": that would report old habits as new.
        if let Some(failed) = responses.iter().find(|r| !r["error"].is_null()) {
            return Err(FindingsError::refused(
                "a baseline search",
                failed["status"].as_u64().unwrap_or(0) as u16,
                truncate(&failed["error"].to_string(), 500),
            ));
        }
        Ok(responses.clone())
    }
}

/// The values an event brings, of each kind it has, with their filters.
/// The values an event shows, borrowed from its facts: every event's values are looked up and
/// nearly all are known, so neither an owned value nor its query is made here (they were ~half
/// of the CPU the findings added per event in a release build, in allocations alone).
fn values_of(f: &Facts) -> impl Iterator<Item = (Kind, Cow<'_, str>)> {
    fn borrowed(kind: Kind, value: &Option<Box<str>>) -> Option<(Kind, Cow<'_, str>)> {
        value.as_deref().map(|v| (kind, Cow::Borrowed(v)))
    }
    [
        borrowed(Kind::NewAction, &f.action),
        borrowed(Kind::NewService, &f.service),
        borrowed(Kind::NewRegion, &f.region),
        borrowed(Kind::NewCountry, &f.country),
        borrowed(Kind::NewNetwork, &f.network),
        f.user_agent
            .as_ref()
            .map(|ua| (Kind::NewUserAgent, Cow::Owned(ua.value()))),
    ]
    .into_iter()
    .flatten()
}

/// The query that selects indexed events of `kind` with the value `f` shows: made for a value
/// not known yet, to ask whether the identity had it before.
fn filter_of(f: &Facts, kind: Kind) -> Value {
    let term = |field: &str, value: &Option<Box<str>>| json!({"term": {field: value.as_deref()}});
    match kind {
        Kind::NewAction => term("aws.cloudtrail.iam_action", &f.action),
        Kind::NewService => term("event.provider", &f.service),
        Kind::NewRegion => term("cloud.region", &f.region),
        Kind::NewCountry => term("source.geo.country_iso_code", &f.country),
        Kind::NewNetwork => {
            let net = f.network.as_deref().unwrap_or_default();
            match net.strip_prefix("AS").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => json!({"term": {"source.as.number": n}}),
                None => json!({"term": {"source.ip": net}}),
            }
        }
        Kind::NewUserAgent => f.user_agent.as_ref().map_or(Value::Null, |ua| ua.filter()),
        _ => Value::Null,
    }
}

/// The identity's first authorization failures in the hour from `hour` (ms).
fn denied_in_hour(identity: &Identity, hour: i64, limit: usize) -> Value {
    json!({"size": limit, "_source": ["event.id", "@timestamp"],
        "sort": [{"@timestamp": "asc"}],
        "query": {"bool": {"filter": [identity.query(), authorization_failure_query(),
            {"range": {"@timestamp": {"gte": hour, "lt": hour + 3_600_000,
                "format": "epoch_millis"}}}]}}})
}

fn hits_as_events(answer: &Value) -> Result<Vec<Denial>, FindingsError> {
    let hits = answer["hits"]["hits"]
        .as_array()
        .ok_or(FindingsError::Unreadable {
            what: "a search of denied calls",
            missing: "hits",
        })?;
    Ok(hits
        .iter()
        .filter_map(|h| {
            let time = h["_source"]["@timestamp"].as_str()?;
            let time = DateTime::parse_from_rfc3339(time).ok()?.timestamp_millis();
            let id = h["_source"]["event"]["id"].as_str().or(h["_id"].as_str())?;
            Some((time, Box::from(id)))
        })
        .collect())
}

fn hour_of(time: DateTime<Utc>) -> i64 {
    time.duration_trunc(chrono::Duration::hours(1))
        .unwrap_or(time)
        .timestamp_millis()
}

/// The root of `key`'s lineage as far as `memory` knows it: `(root, known)`.
fn root_of(memory: &Memory, facts: &Facts) -> (String, bool) {
    let Some(mut key) = facts.access_key.as_deref() else {
        return (facts.identity.as_str().to_owned(), false);
    };
    for _ in 0..=MAX_LINEAGE_DEPTH {
        if !is_temporary(key) {
            return (key.to_owned(), true);
        }
        match memory.minted.peek(key) {
            Some(parent) => key = parent,
            None => break,
        }
    }
    (facts.identity.as_str().to_owned(), false)
}

fn is_role_session(f: &Facts) -> bool {
    matches!(f.identity, Identity::RoleIssuer(_))
}

/// The policy registered for the call's own access key or identity.
fn own_policy<'r>(
    registered: &'r Registered,
    f: &Facts,
) -> Option<(&'r str, &'r crate::audit::policy::PolicySet)> {
    f.access_key
        .as_deref()
        .and_then(|k| registered.get(k))
        .or_else(|| registered.get(f.identity.as_str()))
}

/// The policy that bounds what the call may do, if one is registered (see
/// [`Findings::not_granted`]).
fn policy_for<'r>(
    registered: &'r Registered,
    memory: &Memory,
    f: &Facts,
) -> Option<(&'r str, &'r crate::audit::policy::PolicySet)> {
    if let Some(own) = own_policy(registered, f) {
        return Some(own);
    }
    if is_role_session(f) {
        return None;
    }
    match root_of(memory, f) {
        (root, true) => registered.get(&root),
        (_, false) => None,
    }
}

fn finding(
    memory: &Memory,
    c: Candidate<'_>,
    burst_first: Option<Denial>,
    now: DateTime<Utc>,
) -> Finding {
    let f = c.facts;
    let (lineage_root, lineage_root_known) = root_of(memory, f);
    let why = (c.kind == Kind::NewAction)
        .then(|| sensitive(&c.value))
        .flatten();
    let (timestamp, first_event_id) = match burst_first {
        Some((ms, id)) => (
            DateTime::from_timestamp_millis(ms).unwrap_or(f.time),
            id.into(),
        ),
        None => (f.time, c.event_id.to_owned()),
    };
    let reason = match c.note {
        Some(note) => note,
        None => match (c.kind, why) {
            (_, Some(why)) => format!("first {}: {why}", c.value),
            (Kind::DeniedBurst, _) => "many calls refused for lack of permission in one hour: \
            probing what a credential may do"
                .to_owned(),
            (kind, None) => format!(
                "{} never seen before for this identity ({})",
                kind.label(),
                c.value
            ),
        },
    };
    Finding {
        identity: f.identity.as_str().to_owned(),
        identity_type: match f.identity {
            Identity::AccessKey(_) => "access_key",
            Identity::RoleIssuer(_) => "role",
            Identity::Principal(_) => "principal",
        },
        lineage_root,
        lineage_root_known,
        access_key: f.access_key.as_deref().map(str::to_owned),
        kind: c.kind,
        value: c.value,
        first_event_id,
        timestamp,
        detected_at: now,
        severity: if why.is_some() || c.kind == Kind::NotGranted {
            Severity::High
        } else {
            Severity::Medium
        },
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(identity: Identity, key: Option<&str>) -> Facts {
        Facts {
            time: Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap(),
            identity,
            access_key: key.map(Box::from),
            action: Some("iam:CreateAccessKey".into()),
            service: Some("iam.amazonaws.com".into()),
            region: None,
            network: Some("AS64500".into()),
            country: None,
            user_agent: None,
            denied: false,
            minted_key: None,
        }
    }

    #[test]
    fn the_root_is_followed_through_minted_keys_and_unknown_is_said() {
        let mut memory = Memory::default();
        memory.minted.insert("ASIA2".into(), "ASIA1".into());
        memory.minted.insert("ASIA1".into(), "AKIAROOT".into());
        let arn = || Identity::Principal("arn:aws:iam::1:user/v".into());
        assert_eq!(
            root_of(&memory, &facts(arn(), Some("ASIA2"))),
            ("AKIAROOT".to_owned(), true)
        );
        // A session whose minting is not known: the identity itself, said to be unknown.
        assert_eq!(
            root_of(&memory, &facts(arn(), Some("ASIAORPHAN"))),
            ("arn:aws:iam::1:user/v".to_owned(), false)
        );
        assert_eq!(
            root_of(&memory, &facts(arn(), None)),
            ("arn:aws:iam::1:user/v".to_owned(), false)
        );
        let key = Identity::AccessKey("AKIAV".into());
        assert_eq!(
            root_of(&memory, &facts(key, Some("AKIAV"))),
            ("AKIAV".to_owned(), true)
        );
        // A loop never hangs.
        memory.minted.insert("ASIAL1".into(), "ASIAL2".into());
        memory.minted.insert("ASIAL2".into(), "ASIAL1".into());
        assert!(!root_of(&memory, &facts(arn(), Some("ASIAL1"))).1);
    }

    #[test]
    fn an_asn_is_compared_as_a_number_and_a_network_as_a_cidr() {
        let f = facts(Identity::AccessKey("AKIAV".into()), Some("AKIAV"));
        assert_eq!(
            filter_of(&f, Kind::NewNetwork),
            json!({"term": {"source.as.number": 64500}})
        );
        let mut f = f;
        f.network = Some("203.0.113.0/24".into());
        assert_eq!(
            filter_of(&f, Kind::NewNetwork),
            json!({"term": {"source.ip": "203.0.113.0/24"}})
        );
        let kinds: Vec<Kind> = values_of(&f).map(|v| v.0).collect();
        assert_eq!(kinds, [Kind::NewAction, Kind::NewService, Kind::NewNetwork]);
    }
}

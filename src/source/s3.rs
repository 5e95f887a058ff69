//! CloudTrail log files in S3, where every trail writes them (`trailscope ingest s3://...`).
//!
//! A trail writes `[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`.
//! Objects are found by walking that layout one level at a time (ListObjectsV2 with delimiter
//! `/`), pruning accounts, regions, years, months and days against the filter at each level, so
//! only the day prefixes inside the window are ever listed object by object: a bucket with years
//! of history and hundreds of accounts costs a handful of requests per account and region. The
//! prefixes of one level are listed concurrently, and every request (listing and reading) goes
//! through a [`Budget`]: at most so many at once, optionally so many a second, and S3's
//! `SlowDown` waited out rather than failing the run.
//!
//! A backfill does not wait for the whole listing: [`trail_root`] checks the location (one
//! request, so a wrong one fails at once), [`day_folders`] walks down to the window's day folders
//! (a few requests per account and region), and [`send_objects`] lists those folders in key order
//! and hands their objects on as each folder is listed, while the reader fetches the first ones.
//!
//! Objects are read whole (a CloudTrail log file is at most a few MB compressed) and handed to
//! the same reader as local files ([`super::files::read_input`]), named `s3://bucket/key`, so the
//! documents are the same as from `ingest FILE`.
//!
//! [`DoneObjects`] is the checkpoint: the objects whose every event the sink has finished with.

use super::aws_error::{AwsError, AwsFailure};
use super::rate_limit::RateLimiter;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::Client;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{0:?} is not an S3 location: write it as s3://BUCKET or s3://BUCKET/PREFIX")]
    BadUrl(String),
    #[error("cannot list s3://{bucket}/{prefix}: {error}")]
    List {
        bucket: String,
        prefix: String,
        error: AwsError,
    },
    #[error("cannot read s3://{bucket}/{key}: {error}")]
    Get {
        bucket: String,
        key: String,
        error: AwsError,
    },
    /// Nothing under `PREFIX/AWSLogs/`: no trail writes at this location (a mistake, e.g. the
    /// bucket of a Control Tower trail given without its `o-ORGID/` prefix).
    #[error("nothing under s3://{bucket}/{prefix}AWSLogs/: no trail writes there. {hint}")]
    NoTrail {
        bucket: String,
        prefix: String,
        hint: String,
    },
    #[error("checkpoint file {path}: {source}")]
    Checkpoint {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl S3Error {
    /// What kind of AWS failure it was (for the exit code), when it was one.
    pub fn aws_failure(&self) -> Option<AwsFailure> {
        match self {
            S3Error::List { error, .. } | S3Error::Get { error, .. } => Some(error.kind),
            S3Error::BadUrl(_) | S3Error::Checkpoint { .. } | S3Error::NoTrail { .. } => None,
        }
    }

    /// The failure may pass if the same request is made again later: S3's `SlowDown` (HTTP 503),
    /// another 5xx, a throttling code or a broken connection (the kind is decided from the SDK's
    /// error variant and S3's error code in [`AwsError::from_sdk`]).
    pub fn may_pass(&self) -> bool {
        self.aws_failure() == Some(AwsFailure::Transient)
    }

    /// S3's error code, when S3 answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::List { error, .. } | S3Error::Get { error, .. } => error.code.as_deref(),
            S3Error::BadUrl(_) | S3Error::Checkpoint { .. } | S3Error::NoTrail { .. } => None,
        }
    }

    /// The object or its bucket does not exist (S3's own error codes): reading it again will
    /// not help.
    pub fn is_missing(&self) -> bool {
        match self {
            S3Error::Get { error, .. } => {
                matches!(error.code.as_deref(), Some("NoSuchKey" | "NoSuchBucket"))
            }
            _ => false,
        }
    }
}

/// `s3://bucket/prefix`: where a trail writes (the prefix is the trail's, before `AWSLogs/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending with `/`.
    pub prefix: String,
}

impl S3Location {
    /// `None` when `text` is not an `s3://` URL at all (a local path); an error when it is one
    /// without a bucket.
    pub fn parse(text: &str) -> Option<Result<S3Location, S3Error>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(S3Error::BadUrl(text.to_owned())));
        }
        let prefix = prefix.trim_matches('/');
        // A location given down to the trail's `AWSLogs` folder means the same trail.
        let prefix = prefix
            .strip_suffix("AWSLogs")
            .unwrap_or(prefix)
            .trim_end_matches('/');
        Some(Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }))
    }

    /// The name an object is given in origins, dead letters and the checkpoint.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Which log files to read: the window is applied to the day in the key (UTC), so every file of
/// a day that overlaps [since, until) is read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub since: Option<DateTime<Utc>>,
    /// Excluded.
    pub until: Option<DateTime<Utc>>,
    /// Empty: every account.
    pub accounts: Vec<String>,
    /// Empty: every region.
    pub regions: Vec<String>,
}

impl Selection {
    fn first_day(&self) -> NaiveDate {
        self.since.map_or(NaiveDate::MIN, |t| t.date_naive())
    }

    fn last_day(&self) -> NaiveDate {
        self.until.map_or(NaiveDate::MAX, |t| {
            (t - chrono::Duration::nanoseconds(1)).date_naive()
        })
    }

    fn year(&self, year: i32) -> bool {
        (self.first_day().year()..=self.last_day().year()).contains(&year)
    }

    fn month(&self, year: i32, month: u32) -> bool {
        let (first, last) = (self.first_day(), self.last_day());
        ((first.year(), first.month())..=(last.year(), last.month())).contains(&(year, month))
    }

    fn day(&self, day: NaiveDate) -> bool {
        (self.first_day()..=self.last_day()).contains(&day)
    }

    fn account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    fn region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }
}

/// One log file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogObject {
    pub key: String,
    pub size: u64,
    /// Which of the trail's folders it is in.
    pub folder: TrailFolder,
}

/// What listing cost and found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ListStats {
    pub list_requests: u64,
    pub objects: u64,
}

/// An S3 client from the standard AWS configuration chain; with `endpoint_url` (a local S3 such
/// as moto), path-style addressing, since such servers have no per-bucket host names.
pub async fn client(endpoint_url: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(
        // A bucket is reached from any region's endpoint (S3 redirects); us-east-1 only when the
        // chain names none, so that a missing AWS_REGION is not an error here.
        aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1"),
    );
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(endpoint_url.is_some())
        .build();
    Client::from_conf(config)
}

/// An S3 client from a configuration already made ready (`forward --sqs-queue-url`), with
/// path-style addressing for a local S3 (`path_style`).
pub fn client_from(config: &aws_types::SdkConfig, path_style: bool) -> Client {
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

/// Which of a trail's folders under each account to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailFolder {
    /// `CloudTrail/`: the log files.
    Logs,
    /// `CloudTrail-Digest/`: the hourly digest files of integrity validation.
    Digests,
    /// `CloudTrail-Insights/`: the Insights events of a trail with Insights enabled (records of
    /// eventType `AwsCloudTrailInsight`, same `{"Records":[...]}` files).
    Insights,
}

impl TrailFolder {
    fn name(self) -> &'static str {
        match self {
            TrailFolder::Logs => "CloudTrail/",
            TrailFolder::Digests => "CloudTrail-Digest/",
            TrailFolder::Insights => "CloudTrail-Insights/",
        }
    }
}

/// How hard a backfill may press on S3: requests in flight at once and, optionally, requests a
/// second; and how it answers S3's "slow down". Clones share the budget: listing, reading and
/// digest validation running side by side stay within it together.
#[derive(Clone)]
pub struct Budget {
    concurrency: usize,
    /// One permit a request in flight (held for one try, not during the pause before the next).
    in_flight: Arc<Semaphore>,
    rate: Option<Arc<RateLimiter>>,
}

/// Requests in flight by default. A log file is small (CloudTrail writes one about every five
/// minutes per account and region, a few KB to a few MB), so a backfill is bound by the latency
/// of each GetObject and ListObjectsV2, not by bandwidth: 8 hide that latency for the one reader
/// that decodes them, while staying three orders of magnitude under what S3 serves per prefix
/// (5,500 GET and 3,500 LIST a second) and under the SDK's connection pool.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// A request S3 turned away as too many or failed in passing (SlowDown, 503, a reset connection)
/// is tried again after these pauses, on top of the SDK's own few quick tries: about a minute and
/// a half in all before the run gives up.
fn slow_down_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(20))
        .with_max_times(8)
        .with_jitter()
}

impl Budget {
    /// `concurrency` requests in flight (at least one), `per_second` requests a second at most.
    pub fn new(concurrency: usize, per_second: Option<f64>) -> Self {
        let concurrency = concurrency.max(1);
        Budget {
            concurrency,
            in_flight: Arc::new(Semaphore::new(concurrency)),
            rate: per_second.map(|r| Arc::new(RateLimiter::new(r))),
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// One S3 request within the budget: each try waits for a free place among the requests in
    /// flight and for its turn in the rate, and a failure that may pass ([`S3Error::may_pass`]) is
    /// tried again after a growing pause.
    pub async fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T, S3Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, S3Error>>,
    {
        let attempt = || {
            let (in_flight, rate, request) = (self.in_flight.clone(), self.rate.clone(), request());
            async move {
                // Never closed, so acquiring cannot fail.
                let _permit = in_flight.acquire_owned().await.ok();
                if let Some(rate) = rate {
                    rate.acquire().await;
                }
                request.await
            }
        };
        attempt
            .retry(slow_down_backoff())
            .when(S3Error::may_pass)
            .notify(|e, pause| {
                tracing::warn!(
                    code = e.code().unwrap_or("none"),
                    "{what}: {e}; trying again in {}",
                    humantime::format_duration(Duration::from_millis(pause.as_millis() as u64))
                )
            })
            .await
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_CONCURRENCY, None)
    }
}

/// A trail's location with something under its `AWSLogs/`: the accounts (or organizations)
/// found there.
pub struct TrailRoot {
    top: Vec<(String, String)>,
    list_requests: u64,
}

/// Checks that a trail writes at `location` (one ListObjectsV2 of its `AWSLogs/`); when nothing
/// is there, the error names the folders below that do hold a trail.
pub async fn trail_root(
    client: &Client,
    location: &S3Location,
    budget: &Budget,
) -> Result<TrailRoot, S3Error> {
    let lister = Lister::new(client, &location.bucket, budget);
    let top = lister
        .folders(&format!("{}AWSLogs/", location.prefix))
        .await?;
    if !top.is_empty() {
        return Ok(TrailRoot {
            top,
            list_requests: lister.list_requests.load(Relaxed),
        });
    }
    let below = lister.trails_below(&location.prefix).await?;
    let hint = match below.first() {
        Some(first) => format!(
            "A trail writes under {}: give s3://{}/{} (the prefix before AWSLogs/).",
            below
                .iter()
                .map(|p| format!("s3://{}/{p}", location.bucket))
                .collect::<Vec<_>>()
                .join(", "),
            location.bucket,
            first.trim_end_matches('/')
        ),
        None => {
            "Give the prefix before the trail's AWSLogs/ folder: s3://BUCKET/PREFIX.".to_owned()
        }
    };
    Err(S3Error::NoTrail {
        bucket: location.bucket.clone(),
        prefix: location.prefix.clone(),
        hint,
    })
}

/// A day's folder of the trail, to be listed object by object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFolder {
    /// `.../REGION/YYYY/MM/DD/`.
    pub prefix: String,
    pub folder: TrailFolder,
}

/// The day folders that `selection` takes in some of the trail's folders (same layout below
/// each: region, year, month, day), in key order, and the ListObjectsV2 requests that cost.
///
/// The walk goes level by level (accounts, regions, years, months, days), listing the prefixes
/// of one level concurrently within `budget`; what a level keeps is the next level's work, so
/// pruning is the same as one prefix at a time, and so is the number of requests.
pub async fn day_folders(
    client: &Client,
    bucket: &str,
    root: &TrailRoot,
    selection: &Selection,
    folders: &[TrailFolder],
    budget: &Budget,
) -> Result<(Vec<DayFolder>, u64), S3Error> {
    let lister = &Lister::new(client, bucket, budget);
    let accounts = lister
        .each(root.top.clone(), |(name, prefix)| async move {
            if name.starts_with("o-") {
                // An organization trail: one more level, the member accounts.
                lister.folders(&prefix).await
            } else {
                Ok(vec![(name, prefix)])
            }
        })
        .await?;
    let accounts = accounts
        .into_iter()
        .filter(|(account, _)| is_account_id(account) && selection.account(account))
        .flat_map(|(_, prefix)| {
            folders
                .iter()
                .map(move |&folder| (folder, format!("{prefix}{}", folder.name())))
        })
        // Each level collected: an iterator borrowing the filter would make this future one
        // that cannot be spawned.
        .collect::<Vec<_>>();
    let regions = lister
        .each(accounts, |(folder, prefix)| async move {
            Ok(with(folder, lister.folders(&prefix).await?))
        })
        .await?
        .into_iter()
        .filter(|(_, (region, _))| selection.region(region))
        .collect::<Vec<_>>();
    let years = lister
        .each(regions, |(folder, (_, prefix))| async move {
            Ok(with(folder, lister.folders(&prefix).await?))
        })
        .await?
        .into_iter()
        .filter_map(|(folder, (year, prefix))| Some((folder, year.parse::<i32>().ok()?, prefix)))
        .filter(|&(_, year, _)| selection.year(year))
        .collect::<Vec<_>>();
    let months = lister
        .each(years, |(folder, year, prefix)| async move {
            let months = lister.folders(&prefix).await?;
            Ok(months
                .into_iter()
                .filter_map(|(month, prefix)| {
                    Some((folder, year, month.parse::<u32>().ok()?, prefix))
                })
                .collect())
        })
        .await?
        .into_iter()
        .filter(|&(_, year, month, _)| selection.month(year, month))
        .collect::<Vec<_>>();
    let mut days: Vec<DayFolder> = lister
        .each(months, |(folder, year, month, prefix)| async move {
            let days = lister.folders(&prefix).await?;
            Ok(days
                .into_iter()
                .filter_map(|(day, prefix)| {
                    let day = NaiveDate::from_ymd_opt(year, month, day.parse().ok()?)?;
                    Some((folder, day, prefix))
                })
                .collect())
        })
        .await?
        .into_iter()
        .filter(|&(_, day, _)| selection.day(day))
        .map(|(folder, _, prefix)| DayFolder { prefix, folder })
        .collect();
    // Folders of one level end with `/`, so no day's prefix starts another's: listing the days
    // in prefix order lists their keys in key order.
    days.sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix));
    Ok((
        days,
        root.list_requests + lister.list_requests.load(Relaxed),
    ))
}

/// Lists the objects of `days` (in key order, from [`day_folders`]) and sends them to `to`, in
/// key order, as each day is listed: up to the budget's concurrency days are listed ahead, so the
/// receiver can read the first objects while the rest are listed. Stops (without error) when
/// the receiver is gone.
pub async fn send_objects(
    client: &Client,
    bucket: &str,
    days: Vec<DayFolder>,
    budget: &Budget,
    to: &mpsc::Sender<LogObject>,
) -> Result<ListStats, S3Error> {
    let lister = &Lister::new(client, bucket, budget);
    let mut listed = futures::stream::iter(
        days.into_iter()
            .map(|day| async move { lister.objects(&day.prefix, day.folder).await }),
    )
    .buffered(budget.concurrency());
    let mut objects = 0;
    'days: while let Some(day) = listed.next().await {
        let mut day = day?;
        day.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        for object in day {
            if to.send(object).await.is_err() {
                break 'days;
            }
            objects += 1;
        }
    }
    Ok(ListStats {
        list_requests: lister.list_requests.load(Relaxed),
        objects,
    })
}

/// Lists the objects of some of the trail's folders that `selection` takes, pruned as
/// [`day_folders`] does, all of them, in key order.
pub async fn list_objects(
    client: &Client,
    location: &S3Location,
    selection: &Selection,
    folders: &[TrailFolder],
    budget: &Budget,
) -> Result<(Vec<LogObject>, ListStats), S3Error> {
    let root = trail_root(client, location, budget).await?;
    let (days, walked) =
        day_folders(client, &location.bucket, &root, selection, folders, budget).await?;
    let lister = &Lister::new(client, &location.bucket, budget);
    let mut objects = lister
        .each(days, |day| async move {
            lister.objects(&day.prefix, day.folder).await
        })
        .await?;
    // Listed concurrently, read in one order: the same run twice reads alike.
    objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let stats = ListStats {
        list_requests: walked + lister.list_requests.load(Relaxed),
        objects: objects.len() as u64,
    };
    Ok((objects, stats))
}

/// Each of `items` paired with the folder it was found under.
fn with<T>(folder: TrailFolder, items: Vec<T>) -> Vec<(TrailFolder, T)> {
    items.into_iter().map(|item| (folder, item)).collect()
}

/// Reads one object whole.
pub async fn get_object(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, S3Error> {
    Ok(get_object_with_metadata(client, bucket, key).await?.0)
}

/// Reads one object whole within `budget` (its rate; S3's "slow down" waited out).
pub async fn get_object_within(
    client: &Client,
    bucket: &str,
    key: &str,
    budget: &Budget,
) -> Result<Vec<u8>, S3Error> {
    budget
        .call("GetObject", || get_object(client, bucket, key))
        .await
}

/// Reads one object whole, with its user metadata (`x-amz-meta-NAME`, keyed by `NAME`).
pub async fn get_object_with_metadata(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<(Vec<u8>, HashMap<String, String>), S3Error> {
    let get_error = |error: AwsError| S3Error::Get {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        error,
    };
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| get_error(AwsError::from_sdk(&e, "S3", &endpoint(client))))?;
    let metadata = output.metadata().cloned().unwrap_or_default();
    // Copied chunk by chunk into one buffer of the object's size: collecting the body whole and
    // then copying it out would hold the object twice, and a backfill holds many at once.
    let size = output.content_length().unwrap_or(0).clamp(0, 1 << 30) as usize;
    let (mut body, mut bytes) = (output.body, Vec::with_capacity(size));
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return Ok((bytes, metadata)),
            // The body broke off after the answer began: a network failure, worth a later try.
            Err(e) => {
                return Err(get_error(AwsError {
                    kind: AwsFailure::Transient,
                    code: None,
                    message: DisplayErrorContext(&e).to_string(),
                }))
            }
        }
    }
}

/// How a message names the S3 endpoint asked: the override, or AWS's for the client's region.
fn endpoint(client: &Client) -> String {
    let config = client.config();
    match config.region() {
        Some(region) => format!("the S3 endpoint of {region} (or --endpoint-url)"),
        None => "the S3 endpoint".to_owned(),
    }
}

fn is_account_id(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

struct Lister<'a> {
    client: &'a Client,
    bucket: &'a str,
    budget: &'a Budget,
    list_requests: AtomicU64,
}

impl<'a> Lister<'a> {
    fn new(client: &'a Client, bucket: &'a str, budget: &'a Budget) -> Self {
        Lister {
            client,
            bucket,
            budget,
            list_requests: AtomicU64::new(0),
        }
    }

    fn list_error<E>(&self, prefix: &str, e: &SdkError<E, HttpResponse>) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        S3Error::List {
            bucket: self.bucket.to_owned(),
            prefix: prefix.to_owned(),
            error: AwsError::from_sdk(e, "S3", &endpoint(self.client)),
        }
    }

    /// `list` applied to every item, up to the budget's concurrency at once; the results of all,
    /// in no particular order.
    async fn each<T, U, Fut>(
        &self,
        items: impl IntoIterator<Item = T>,
        list: impl Fn(T) -> Fut,
    ) -> Result<Vec<U>, S3Error>
    where
        Fut: Future<Output = Result<Vec<U>, S3Error>>,
    {
        let lists: Vec<Vec<U>> = futures::stream::iter(items.into_iter().map(list))
            .buffer_unordered(self.budget.concurrency())
            .try_collect()
            .await?;
        Ok(lists.into_iter().flatten().collect())
    }

    /// Every page of ListObjectsV2 with delimiter `/` under `prefix`, each page within the
    /// budget (a page retried alone, with its continuation token).
    async fn pages(&self, prefix: &str) -> Result<Vec<ListObjectsV2Output>, S3Error> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .budget
                .call("ListObjectsV2", || async {
                    self.list_requests.fetch_add(1, Relaxed);
                    self.client
                        .list_objects_v2()
                        .bucket(self.bucket)
                        .prefix(prefix)
                        .delimiter("/")
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| self.list_error(prefix, &e))
                })
                .await?;
            // As the SDK's paginator: the next page is asked for while a token comes back.
            token = page
                .next_continuation_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            pages.push(page);
            if token.is_none() {
                return Ok(pages);
            }
        }
    }

    /// The sub-folders of `prefix`: (name, full prefix ending with `/`).
    async fn folders(&self, prefix: &str) -> Result<Vec<(String, String)>, S3Error> {
        let mut out = Vec::new();
        for page in self.pages(prefix).await? {
            for common in page.common_prefixes() {
                let Some(full) = common.prefix() else {
                    continue;
                };
                let name = full[prefix.len().min(full.len())..].trim_end_matches('/');
                if !name.is_empty() {
                    out.push((name.to_owned(), full.to_owned()));
                }
            }
        }
        Ok(out)
    }

    /// The folders under `prefix` (the first 20) with an `AWSLogs/` of their own: where a trail
    /// writes when it is not at `prefix` itself (Control Tower's `o-ORGID/`, a trail's prefix).
    async fn trails_below(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let folders = self.folders(prefix).await?.into_iter().take(20);
        let mut found = self
            .each(folders, |(_, folder)| async move {
                let logs = self.folders(&format!("{folder}AWSLogs/")).await?;
                Ok(if logs.is_empty() {
                    vec![]
                } else {
                    vec![folder]
                })
            })
            .await?;
        found.sort();
        Ok(found)
    }

    /// The objects directly under a day's prefix, in `folder`.
    async fn objects(&self, prefix: &str, folder: TrailFolder) -> Result<Vec<LogObject>, S3Error> {
        let mut out = Vec::new();
        for page in self.pages(prefix).await? {
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.ends_with('/') {
                    continue;
                }
                out.push(LogObject {
                    key: key.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    folder,
                });
            }
        }
        Ok(out)
    }
}

/// The checkpoint of an S3 backfill: one object URL a line, appended (and synced) once every
/// event of the object is indexed, a known duplicate or dead-lettered. A line cut short by a crash
/// names no object, so that object is read again (its events are then known duplicates).
pub struct DoneObjects {
    path: PathBuf,
    done: HashSet<String>,
    file: std::fs::File,
}

impl DoneObjects {
    pub fn open(path: &Path) -> Result<DoneObjects, S3Error> {
        let error = |source| S3Error::Checkpoint {
            path: path.to_owned(),
            source,
        };
        let done = match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(error(e)),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(error)?;
        Ok(DoneObjects {
            path: path.to_owned(),
            done,
            file,
        })
    }

    pub fn contains(&self, object_url: &str) -> bool {
        self.done.contains(object_url)
    }

    pub fn mark(&mut self, object_url: &str) -> Result<(), S3Error> {
        if !self.done.insert(object_url.to_owned()) {
            return Ok(());
        }
        // The newline first: a line a crash cut short is then never joined to this one.
        (|| {
            self.file
                .write_all(format!("\n{object_url}\n").as_bytes())?;
            self.file.sync_data()
        })()
        .map_err(|source| S3Error::Checkpoint {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let l = |t| S3Location::parse(t).unwrap().unwrap();
        assert_eq!(l("s3://b").prefix, "");
        assert_eq!(l("s3://b/").prefix, "");
        assert_eq!(l("s3://b/trail").prefix, "trail/");
        assert_eq!(l("s3://b/trail/AWSLogs/").prefix, "trail/");
        assert_eq!(l("s3://b/AWSLogs").prefix, "");
        assert_eq!(
            l("s3://b/x").object_url("k/1.json.gz"),
            "s3://b/k/1.json.gz"
        );
        assert!(S3Location::parse("trail.json.gz").is_none());
        assert!(S3Location::parse("s3:///x").unwrap().is_err());
    }

    #[test]
    fn the_window_prunes_each_level() {
        let at = |t: &str| Some(t.parse::<DateTime<Utc>>().unwrap());
        let s = Selection {
            since: at("2026-01-31T12:00:00Z"),
            until: at("2026-02-02T00:00:00Z"),
            ..Selection::default()
        };
        assert!(!s.year(2025) && s.year(2026) && !s.year(2027));
        assert!(!s.month(2025, 12) && s.month(2026, 1) && s.month(2026, 2) && !s.month(2026, 3));
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert!(!s.day(d(1, 30)) && s.day(d(1, 31)) && s.day(d(2, 1)));
        // `until` is excluded: midnight of the 2nd takes nothing of the 2nd.
        assert!(!s.day(d(2, 2)));
        let open = Selection::default();
        assert!(open.year(1999) && open.day(d(12, 31)));
    }

    fn failure(kind: AwsFailure, code: &str) -> S3Error {
        S3Error::Get {
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            error: AwsError {
                kind,
                code: Some(code.to_owned()),
                message: code.to_owned(),
            },
        }
    }

    /// S3's SlowDown (a 503, kind Transient from its code) is waited out with growing pauses; a
    /// refusal is not tried again.
    #[tokio::test(start_paused = true)]
    async fn slow_down_is_waited_out_and_a_refusal_is_not_retried() {
        let budget = Budget::new(2, Some(10.0));
        let tries = std::sync::atomic::AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let got = budget
            .call("GetObject", || async {
                match tries.fetch_add(1, Relaxed) {
                    0..=3 => Err(failure(AwsFailure::Transient, "SlowDown")),
                    _ => Ok("body"),
                }
            })
            .await;
        assert_eq!(got.unwrap(), "body");
        assert_eq!(tries.load(Relaxed), 5);
        // Pauses of at least 0.5 + 1 + 2 + 4 s (jitter only adds).
        assert!(
            started.elapsed() >= Duration::from_millis(7500),
            "{:?}",
            started.elapsed()
        );

        let tries = std::sync::atomic::AtomicU32::new(0);
        let got: Result<(), _> = budget
            .call("GetObject", || async {
                tries.fetch_add(1, Relaxed);
                Err(failure(AwsFailure::Auth, "AccessDenied"))
            })
            .await;
        assert_eq!(got.unwrap_err().code(), Some("AccessDenied"));
        assert_eq!(tries.load(Relaxed), 1);
    }

    /// With a rate, requests are spaced evenly, retries included.
    #[tokio::test(start_paused = true)]
    async fn the_rate_spaces_requests() {
        let budget = Budget::new(8, Some(4.0));
        let started = tokio::time::Instant::now();
        for _ in 0..9 {
            budget
                .call("ListObjectsV2", || async { Ok(()) })
                .await
                .unwrap();
        }
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    /// Clones of a budget share it: requests from two of them (listing and reading side by
    /// side) are never more in flight together than the budget's concurrency.
    #[tokio::test(start_paused = true)]
    async fn clones_share_the_requests_in_flight() {
        let budget = Budget::new(3, None);
        let (now, most) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let calls = (0..20).map(|i| {
            let (budget, now, most) = (budget.clone(), now.clone(), most.clone());
            tokio::spawn(async move {
                budget
                    .call(
                        if i % 2 == 0 {
                            "ListObjectsV2"
                        } else {
                            "GetObject"
                        },
                        || {
                            let (now, most) = (now.clone(), most.clone());
                            async move {
                                most.fetch_max(now.fetch_add(1, Relaxed) + 1, Relaxed);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                now.fetch_sub(1, Relaxed);
                                Ok(())
                            }
                        },
                    )
                    .await
            })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap().unwrap();
        }
        assert_eq!(most.load(Relaxed), 3);
    }

    #[test]
    fn checkpoint_survives_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done");
        std::fs::write(&path, "s3://b/a.json.gz\ns3://b/cut.js").unwrap();
        let mut done = DoneObjects::open(&path).unwrap();
        assert!(done.contains("s3://b/a.json.gz"));
        assert!(!done.contains("s3://b/cut.json.gz"));
        done.mark("s3://b/c.json.gz").unwrap();
        let again = DoneObjects::open(&path).unwrap();
        assert!(again.contains("s3://b/c.json.gz") && again.contains("s3://b/a.json.gz"));
    }
}

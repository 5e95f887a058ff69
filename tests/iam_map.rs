//! `aws.cloudtrail.iam_action(s)` checked against data nobody here wrote:
//! * the dataset itself (iann0036/iam-dataset `map.json`, MIT): a committed sample of its pairs
//!   (`tests/data/iam-dataset-sample.tsv`, runs everywhere) and, when `TRAILSCOPE_IAM_DATASET`
//!   names a `map.json`, every pair of it (an ignored test, run with `--ignored`);
//! * AWS documentation, for the irregular classes the dataset gets wrong or predates (written by
//!   hand below, each row with the page it comes from).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use trailscope::enrich::Enricher;
use trailscope::event::cloudtrail::CloudTrailRecord;
use trailscope::event::document::Document;
use trailscope::event::iam_action::{iam_actions, IamActions};
use trailscope::source::{CloudWatchPosition, Origin};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// (prefix, eventName) pairs that `mappings/iam-overrides.tsv` corrects on purpose.
fn overridden() -> HashSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("mappings/iam-overrides.tsv")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            (cells.len() == 5 && cells[0] == "action")
                .then(|| (cells[1].to_owned(), cells[2].to_owned()))
        })
        .collect()
}

/// How our answer for one call compares with the dataset's actions for it.
#[derive(Debug, Default)]
struct Agreement {
    pairs: usize,
    /// Our primary action is one of the dataset's actions for the call.
    primary: usize,
    /// And our list is exactly the dataset's (order aside).
    exact: usize,
    overridden: usize,
    disagreements: Vec<String>,
}

impl Agreement {
    fn check(
        &mut self,
        prefix: &str,
        operation: &str,
        want: &[String],
        overrides: &HashSet<(String, String)>,
    ) {
        if overrides.contains(&(prefix.to_owned(), operation.to_owned())) {
            self.overridden += 1;
            return;
        }
        self.pairs += 1;
        let source = format!("{prefix}.amazonaws.com");
        let Some(got) = iam_actions(&source, operation) else {
            self.disagreements
                .push(format!("{source} {operation}: no answer, want {want:?}"));
            return;
        };
        let ours: HashSet<&str> = if got.all.is_empty() {
            [&*got.primary].into_iter().collect()
        } else {
            got.all.iter().copied().collect()
        };
        let theirs: HashSet<&str> = want.iter().map(String::as_str).collect();
        if theirs.iter().any(|w| w.eq_ignore_ascii_case(&got.primary)) {
            self.primary += 1;
            if ours == theirs {
                self.exact += 1;
            }
        } else {
            self.disagreements.push(format!(
                "{source} {operation}: {}, want {want:?}",
                got.primary
            ));
        }
    }

    fn report(&self, what: &str) -> f64 {
        let share = |n: usize| 100.0 * n as f64 / self.pairs.max(1) as f64;
        eprintln!(
            "{what}: {} pairs; primary action agrees on {} ({:.2}%), whole list on {} ({:.2}%); \
             {} pairs corrected by mappings/iam-overrides.tsv left out",
            self.pairs,
            self.primary,
            share(self.primary),
            self.exact,
            share(self.exact),
            self.overridden
        );
        for d in self.disagreements.iter().take(30) {
            eprintln!("  disagrees: {d}");
        }
        share(self.primary)
    }
}

#[test]
fn committed_sample_agrees_with_the_dataset() {
    let text = std::fs::read_to_string(root().join("tests/data/iam-dataset-sample.tsv")).unwrap();
    assert!(
        text.contains("MIT licence"),
        "the sample records the dataset's licence"
    );
    let overrides = overridden();
    let mut agreement = Agreement::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [prefix, operation, actions] = cells[..] else {
            panic!("bad sample row {line:?}");
        };
        let want: Vec<String> = match actions {
            "=" => vec![format!("{prefix}:{operation}")],
            list => list.split(',').map(str::to_owned).collect(),
        };
        agreement.check(prefix, operation, &want, &overrides);
    }
    assert!(
        agreement.pairs + agreement.overridden >= 5000,
        "{agreement:?}"
    );
    let share = agreement.report("committed sample");
    assert!(share >= 99.5, "only {share:.2}% agree");
}

/// The whole dataset: `TRAILSCOPE_IAM_DATASET=/path/to/iam-dataset/aws/map.json cargo test
/// --test iam_map -- --ignored`.
#[test]
#[ignore = "needs the iam-dataset map.json (not committed): set TRAILSCOPE_IAM_DATASET and pass --ignored"]
fn every_pair_of_the_dataset_agrees() {
    let path = std::env::var("TRAILSCOPE_IAM_DATASET")
        .expect("TRAILSCOPE_IAM_DATASET must name iam-dataset's aws/map.json");
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let methods = data["sdk_method_iam_mappings"].as_object().unwrap();

    // SDK service -> IAM prefix, as the dataset states it or as the actions named like their call
    // show it (older versions of the file list only irregular services).
    let mut named: HashMap<&str, BTreeMap<String, usize>> = HashMap::new();
    let mut calls: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for (key, variants) in methods {
        let (service, operation) = key.split_once('.').unwrap();
        for v in variants.as_array().unwrap() {
            let action = v["action"].as_str().unwrap_or_default();
            if let Some((prefix, name)) = action.split_once(':') {
                if name.eq_ignore_ascii_case(operation) {
                    *named
                        .entry(service)
                        .or_default()
                        .entry(prefix.to_ascii_lowercase())
                        .or_default() += 1;
                }
            }
        }
    }
    let stated = data["sdk_service_mappings"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut sorted: Vec<_> = methods.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (key, variants) in sorted {
        let (service, operation) = key.split_once('.').unwrap();
        let prefix = match stated.get(service).and_then(|p| p.as_str()) {
            Some(p) => p.to_ascii_lowercase(),
            None => match named
                .get(service)
                .and_then(|c| c.iter().max_by_key(|(_, n)| **n))
            {
                Some((p, _)) => p.clone(),
                None => continue,
            },
        };
        let actions: Vec<String> = variants
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| {
                v["action"]
                    .as_str()
                    .filter(|a| a.contains(':'))
                    .map(str::to_owned)
            })
            .collect();
        if actions.is_empty() {
            continue;
        }
        // Two SDK services sharing a prefix and an operation (S3 and S3Control): the one named
        // like the prefix is the one CloudTrail's eventSource speaks for.
        let main = service.to_ascii_lowercase().replace('-', "") == prefix.replace('-', "");
        let entry = calls.entry((prefix, operation.to_owned()));
        match entry {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((main, actions));
            }
            std::collections::btree_map::Entry::Occupied(mut o) if main && !o.get().0 => {
                o.insert((main, actions));
            }
            _ => {}
        }
    }
    let overrides = overridden();
    let mut agreement = Agreement::default();
    for ((prefix, operation), (_, actions)) in &calls {
        agreement.check(prefix, operation, actions, &overrides);
    }
    assert!(agreement.pairs >= 5000, "{agreement:?}");
    let share = agreement.report(&path);
    assert!(share >= 99.5, "only {share:.2}% agree");
}

/// The irregular classes of issue #19, from AWS documentation (not from the dataset):
/// (eventSource, eventName, primary action, other actions the call needs).
#[rustfmt::skip]
const DOCUMENTED: &[(&str, &str, &str, &[&str])] = &[
    // eventSource is not the IAM prefix (EventBridge events reference gives the eventSource; the
    // Service Authorization Reference the prefix).
    ("qconnect.amazonaws.com", "CreateAssistant", "wisdom:CreateAssistant", &[]),
    ("migrationhub.amazonaws.com", "NotifyMigrationTaskState", "mgh:NotifyMigrationTaskState", &[]),
    ("pricelist.amazonaws.com", "GetProducts", "pricing:GetProducts", &[]),
    ("rdsdataapi.amazonaws.com", "ExecuteStatement", "rds-data:ExecuteStatement", &[]),
    ("chime-sdk-media-pipelines.amazonaws.com", "CreateMediaCapturePipeline", "chime:CreateMediaCapturePipeline", &[]),
    ("contact-lens.amazonaws.com", "ListRealtimeContactAnalysisSegments", "connect:ListRealtimeContactAnalysisSegments", &[]),
    // Authorised by differently named actions.
    // SAR list_keyspaces.html, "API operations defined by Amazon Keyspaces".
    ("cassandra.amazonaws.com", "CreateKeyspace", "cassandra:Create", &[]),
    ("cassandra.amazonaws.com", "DeleteTable", "cassandra:Drop", &[]),
    ("cassandra.amazonaws.com", "UpdateTable", "cassandra:Alter", &[]),
    // SAR, AWS Budgets: ModifyBudget / ViewBudget.
    ("budgets.amazonaws.com", "CreateBudget", "budgets:ModifyBudget", &[]),
    ("budgets.amazonaws.com", "DeleteNotification", "budgets:ModifyBudget", &[]),
    ("budgets.amazonaws.com", "DescribeBudgets", "budgets:ViewBudget", &[]),
    // DynamoDB: PartiQL (the statement decides which) and transactions.
    ("dynamodb.amazonaws.com", "ExecuteStatement", "dynamodb:PartiQLSelect", &["dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]),
    ("dynamodb.amazonaws.com", "BatchExecuteStatement", "dynamodb:PartiQLSelect", &["dynamodb:PartiQLInsert"]),
    ("dynamodb.amazonaws.com", "ExecuteTransaction", "dynamodb:PartiQLSelect", &["dynamodb:PartiQLUpdate"]),
    ("dynamodb.amazonaws.com", "TransactGetItems", "dynamodb:GetItem", &[]),
    ("dynamodb.amazonaws.com", "TransactWriteItems", "dynamodb:PutItem", &["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]),
    // SNS PublishBatch, SQS batch calls: the single-message action.
    ("sns.amazonaws.com", "PublishBatch", "sns:Publish", &[]),
    ("sqs.amazonaws.com", "SendMessageBatch", "sqs:SendMessage", &[]),
    ("sqs.amazonaws.com", "DeleteMessageBatch", "sqs:DeleteMessage", &[]),
    ("sqs.amazonaws.com", "ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility", &[]),
    // Timestream Query: Select.
    ("timestream.amazonaws.com", "Query", "timestream:Select", &[]),
    // S3 Select, public access block.
    ("s3.amazonaws.com", "SelectObjectContent", "s3:GetObject", &[]),
    ("s3.amazonaws.com", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", &[]),
    ("s3.amazonaws.com", "PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", &[]),
    ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", &[]),
    ("s3.amazonaws.com", "CopyObject", "s3:PutObject", &["s3:GetObject"]),
    // Lambda: the layer ARN call is GetLayerVersion; dated names are stripped first.
    ("lambda.amazonaws.com", "GetLayerVersionByArn", "lambda:GetLayerVersion", &[]),
    ("lambda.amazonaws.com", "GetLayerVersionByArn20181031", "lambda:GetLayerVersion", &[]),
    ("lambda.amazonaws.com", "Invoke", "lambda:InvokeFunction", &[]),
    // Several actions: the role passed to the instance.
    ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances", &["iam:PassRole"]),
    ("kms.amazonaws.com", "ReEncrypt", "kms:ReEncryptFrom", &["kms:ReEncryptTo"]),
];

#[test]
fn irregular_classes_agree_with_aws_documentation() {
    let mut wrong = Vec::new();
    for &(source, name, primary, others) in DOCUMENTED {
        let Some(got) = iam_actions(source, name) else {
            wrong.push(format!("{source} {name}: no answer"));
            continue;
        };
        if got.primary != primary {
            wrong.push(format!("{source} {name}: {} want {primary}", got.primary));
        }
        for other in others {
            if !got.all.contains(other) {
                wrong.push(format!("{source} {name}: {:?} lacks {other}", got.all));
            }
        }
        if !others.is_empty() && got.all.first() != Some(&primary) {
            wrong.push(format!(
                "{source} {name}: primary must come first in {:?}",
                got.all
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn permissionless_calls_are_marked() {
    let got = iam_actions("sts.amazonaws.com", "GetCallerIdentity").unwrap();
    assert_eq!(
        got,
        IamActions {
            primary: Cow::Borrowed("sts:GetCallerIdentity"),
            all: &[],
            permissionless: true,
        }
    );
    assert!(
        !iam_actions("sts.amazonaws.com", "AssumeRole")
            .unwrap()
            .permissionless
    );
}

/// The document carries the list for a call that needs several actions, and none otherwise.
#[test]
fn document_lists_every_action_of_a_call() {
    let origin = Origin::CloudWatch(CloudWatchPosition {
        log_group: Arc::from("g"),
        log_stream: Arc::from("s"),
        event_id: "1".into(),
        timestamp: 1_700_000_000_000,
        ingestion_time: None,
    });
    let doc = |source: &str, name: &str| -> serde_json::Value {
        let message = format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","eventID":"e1"}}"#
        );
        let record = CloudTrailRecord::parse(&message).unwrap();
        let enrichment = Enricher::default().enrich(&record);
        let document = Document::new(
            &record,
            Cow::Borrowed("2024-01-02T03:04:05Z"),
            &origin,
            &enrichment,
        );
        let mut out = Vec::new();
        document.write_json(&mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    let run = doc("ec2.amazonaws.com", "RunInstances");
    assert_eq!(run["aws"]["cloudtrail"]["iam_action"], "ec2:RunInstances");
    assert_eq!(
        run["aws"]["cloudtrail"]["iam_actions"],
        serde_json::json!(["ec2:RunInstances", "iam:PassRole"])
    );
    let budget = doc("budgets.amazonaws.com", "CreateBudget");
    assert_eq!(
        budget["aws"]["cloudtrail"]["iam_action"],
        "budgets:ModifyBudget"
    );
    assert!(budget["aws"]["cloudtrail"].get("iam_actions").is_none());
    let plain = doc("ec2.amazonaws.com", "DescribeInstances");
    assert_eq!(
        plain["aws"]["cloudtrail"]["iam_action"],
        "ec2:DescribeInstances"
    );
    assert!(plain["aws"]["cloudtrail"].get("iam_actions").is_none());
}

/// The generator reads both shapes of the dataset: the older one (no eventSource mapping) and
/// the current one with `cloudtrail_service_mappings`; overrides win over the data.
#[test]
fn generator_reads_the_current_dataset_format() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.json");
    std::fs::write(
        &map,
        r#"{
  "sdk_permissionless_actions": ["STS.GetCallerIdentity"],
  "sdk_method_iam_mappings": {
    "Budgets.CreateBudget": [{"action": "budgets:ModifyBudget"}],
    "EC2.RunInstances": [{"action": "ec2:RunInstances"}, {"action": "iam:PassRole"}, {"action": "ec2:RunInstances"}],
    "EC2.DescribeInstances": [{"action": "ec2:DescribeInstances"}],
    "Drs.DescribeJobs": [{"action": "ec2:DescribeInstances"}, {"action": "drs:DescribeJobs"}],
    "Drs.StartRecovery": [{"action": "ec2:RunInstances"}, {"action": "ec2:CreateTags"}, {"action": "drs:StartRecovery"}],
    "SQS.DeleteMessageBatch": [{"action": "sqs:DeleteMessageBatch"}],
    "STS.GetCallerIdentity": []
  },
  "sdk_service_mappings": {"Budgets": "budgets"},
  "cloudtrail_service_mappings": {
    "ec2.amazonaws.com": "ec2",
    "newservice-api.amazonaws.com": "newservice"
  }
}"#,
    )
    .unwrap();
    let out = dir.path().join("table.tsv");
    let status = std::process::Command::new("python3")
        .arg(root().join("scripts/gen-iam-map.py"))
        .arg(&map)
        .args(["--source", "test fixture"])
        .arg("--out")
        .arg(&out)
        .status()
        .expect("python3 runs scripts/gen-iam-map.py");
    assert!(status.success());
    let table = std::fs::read_to_string(&out).unwrap();
    let rows: HashSet<&str> = table.lines().filter(|l| !l.starts_with('#')).collect();
    for want in [
        "S\tnewservice-api\tnewservice",
        "S\tqconnect\twisdom",
        "A\tbudgets\tCreateBudget\tbudgets:ModifyBudget",
        "A\tec2\tRunInstances\tec2:RunInstances,iam:PassRole",
        // Drs is not in sdk_service_mappings: its prefix is that of the actions named like
        // their call, not the ec2 most of its actions use.
        "A\tdrs\tStartRecovery\tdrs:StartRecovery,ec2:RunInstances,ec2:CreateTags",
        "A\tsqs\tDeleteMessageBatch\tsqs:DeleteMessage",
        "P\tsts\tGetCallerIdentity",
    ] {
        assert!(rows.contains(want), "{want:?} missing from\n{table}");
    }
    // Identity pairs are left to the fallback; a host that is its own prefix is not listed.
    assert!(!table.contains("\tec2\tDescribeInstances"), "{table}");
    assert!(rows.contains("A\tdrs\tDescribeJobs\tdrs:DescribeJobs,ec2:DescribeInstances"));
    assert!(!table.contains("S\tec2\t"), "{table}");
    assert!(
        table.contains("# Data: test fixture (MIT licence"),
        "{table}"
    );
}

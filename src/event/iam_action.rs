//! Map a CloudTrail `(eventSource, eventName)` pair to the IAM actions that authorise the call
//! (`aws.cloudtrail.iam_action`, and `aws.cloudtrail.iam_actions` when it needs several), e.g.
//! `ec2.amazonaws.com` + `DescribeInstances` -> `ec2:DescribeInstances`, so that recorded calls
//! can be compared with IAM policy statements such as `"Action": ["ec2:Describe*"]`.
//!
//! # Rules
//!
//! 1. **Service prefix.** The IAM service prefix is the first DNS label of the eventSource
//!    (`ec2.amazonaws.com` -> `ec2`), unless the generated table ([`super::iam_map`]) lists the
//!    host as an exception (`monitoring` -> `cloudwatch`, `qconnect` -> `wisdom`, ...). An
//!    eventSource that does not end in `.amazonaws.com` (or `.amazonaws.com.cn`), or whose first
//!    label is not a plausible prefix (`[A-Za-z0-9-]+`), has no prefix (`None`).
//! 2. **Dated API versions.** Lambda and CloudFront log the API version in the eventName
//!    (`UpdateFunctionCode20150331v2`, `CreateDistribution2020_05_31`); the trailing
//!    `YYYYMMDD[vN]` / `YYYY_MM_DD` is removed. No IAM action ends in such a date, so this is
//!    applied to every service.
//! 3. **The data.** The table generated from iann0036/iam-dataset (API operation -> IAM actions,
//!    corrected by `mappings/iam-overrides.tsv`, each correction citing its source) gives the
//!    actions of every call it knows whose answer is not simply `prefix:eventName`: renames
//!    (`s3:ListObjectsV2` -> `s3:ListBucket`, `budgets:CreateBudget` -> `budgets:ModifyBudget`),
//!    calls that need several actions (`ec2:RunInstances` + `iam:PassRole`; the primary is the one
//!    named like the call, else the data's first), and calls that need no permission.
//! 4. **Fallback** for calls the data does not list: API Gateway management calls are authorised
//!    by HTTP verb (`apigateway:GET`, ...); anything else is `prefix:eventName` exactly as
//!    CloudTrail gives it (IAM matching is case-insensitive; the prefix is lower-cased because IAM
//!    prefixes always are).
//!
//! Events not authorised by any IAM action still get `prefix:EventName`, because a stable,
//! searchable value is more useful than none: `signin:ConsoleLogin`, `sso:Authenticate`,
//! `sts:GetCallerIdentity` (needs no permission: [`IamActions::permissionless`]).
//!
//! Ambiguities that cannot be resolved from the two fields alone: the primary of a call with
//! several actions is chosen as above (S3 `CopyObject` -> `s3:PutObject` on the target, with
//! `s3:GetObject` on the source also listed; KMS `ReEncrypt` -> `kms:ReEncryptFrom` with
//! `kms:ReEncryptTo`; DynamoDB PartiQL `ExecuteStatement` -> `dynamodb:PartiQLSelect`, the
//! statement deciding which of the four PartiQL actions it really needs).

use super::iam_map::{self, Call};
use std::borrow::Cow;

/// Endpoint domain suffixes accepted as "an AWS service endpoint" (compared ignoring ASCII case).
const ENDPOINT_SUFFIXES: [&str; 2] = [".amazonaws.com", ".amazonaws.com.cn"];

/// The IAM actions that authorise one CloudTrail call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamActions {
    /// The action that stands for the call (`aws.cloudtrail.iam_action`). Borrowed from the
    /// table when the data knows the call, so most events allocate nothing here.
    pub primary: Cow<'static, str>,
    /// Every action the call needs, primary first, when the data lists more than one
    /// (`aws.cloudtrail.iam_actions`); empty otherwise.
    pub all: &'static [&'static str],
    /// The call needs no permission (data: `sdk_permissionless_actions`).
    pub permissionless: bool,
}

impl IamActions {
    /// The actions to record as `aws.cloudtrail.iam_actions`: `None` unless there are several.
    pub fn several(&self) -> Option<&'static [&'static str]> {
        (self.all.len() > 1).then_some(self.all)
    }
}

/// The IAM action of a CloudTrail event, e.g. `ec2:DescribeInstances`.
/// `None` when the event source is not an AWS service endpoint we can map (e.g. empty).
pub fn iam_action(event_source: &str, event_name: &str) -> Option<String> {
    iam_actions(event_source, event_name).map(|a| a.primary.into_owned())
}

/// Every IAM action of a CloudTrail event (see the module docs for the rules).
pub fn iam_actions(event_source: &str, event_name: &str) -> Option<IamActions> {
    let prefix = service_prefix(event_source)?;
    if event_name.is_empty() {
        return None;
    }
    let name = strip_api_version(event_name);
    // eventSources are lower case in practice; only an odd one pays for a lower-cased copy.
    let prefix: Cow<'_, str> = if prefix.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(prefix.to_ascii_lowercase())
    } else {
        Cow::Borrowed(prefix)
    };
    match iam_map::call(&prefix, name) {
        Some(Call::Needs(all)) => Some(IamActions {
            primary: Cow::Borrowed(all[0]),
            all,
            permissionless: false,
        }),
        Some(Call::Permissionless) => Some(IamActions {
            primary: Cow::Owned(join(&prefix, name)),
            all: &[],
            permissionless: true,
        }),
        None => {
            let action = match &*prefix {
                "apigateway" => api_gateway_verb(name).unwrap_or(name),
                _ => name,
            };
            Some(IamActions {
                primary: Cow::Owned(join(&prefix, action)),
                all: &[],
                permissionless: false,
            })
        }
    }
}

fn join(prefix: &str, action: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + action.len());
    out.push_str(prefix);
    out.push(':');
    out.push_str(action);
    out
}

/// The IAM service prefix for a CloudTrail eventSource, e.g. `monitoring.amazonaws.com` -> `cloudwatch`.
///
/// Returns a `&'static str` for the table's exceptions, otherwise the first label of
/// `event_source` as given (not lower-cased; [`iam_actions`] lower-cases it).
pub fn service_prefix(event_source: &str) -> Option<&str> {
    let host = ENDPOINT_SUFFIXES.iter().find_map(|suffix| {
        let cut = event_source.len().checked_sub(suffix.len())?;
        // The suffix is ASCII, so when the bytes match `cut` is a char boundary.
        event_source.as_bytes()[cut..]
            .eq_ignore_ascii_case(suffix.as_bytes())
            .then(|| &event_source[..cut])
    })?;
    let exception = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        iam_map::source_prefix(&host.to_ascii_lowercase())
    } else {
        iam_map::source_prefix(host)
    };
    if let Some(prefix) = exception {
        return Some(prefix);
    }
    let first = host.split('.').next().unwrap_or_default();
    let plausible = !first.is_empty()
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && host.split('.').all(|label| !label.is_empty());
    plausible.then_some(first)
}

/// Remove a trailing API-version date: `YYYY_MM_DD` (CloudFront, e.g.
/// `CreateDistribution2020_05_31`) or `YYYYMMDD` optionally followed by `v<digits>` (Lambda, e.g.
/// `UpdateFunctionCode20150331v2`). Only stripped when a letter precedes the date, so the result
/// is never empty.
fn strip_api_version(name: &str) -> &str {
    let b = name.as_bytes();
    let is_date = |d: &[u8]| {
        d.len() == 8
            && d.iter().all(u8::is_ascii_digit)
            && d.starts_with(b"20")
            && matches!(&d[4..6], [b'0', b'1'..=b'9'] | [b'1', b'0'..=b'2'])
            && matches!(
                &d[6..8],
                [b'0', b'1'..=b'9'] | [b'1'..=b'2', _] | [b'3', b'0'..=b'1']
            )
    };
    let keep = |end: usize| (end > 0 && b[end - 1].is_ascii_alphabetic()).then_some(end);

    // YYYY_MM_DD
    let underscored = b.len().checked_sub(10).and_then(|start| {
        let s = &b[start..];
        if s[4] != b'_' || s[7] != b'_' {
            return None;
        }
        let digits = [s[0], s[1], s[2], s[3], s[5], s[6], s[8], s[9]];
        if is_date(&digits) {
            keep(start)
        } else {
            None
        }
    });
    // YYYYMMDD[v<digits>]
    let compact = || {
        let mut end = b.len();
        let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && digits < end && b[end - digits - 1] == b'v' {
            end -= digits + 1;
        }
        let start = end.checked_sub(8)?;
        if is_date(&b[start..end]) {
            keep(start)
        } else {
            None
        }
    };
    // Every byte cut off is ASCII, so the index is a char boundary.
    match underscored.or_else(compact) {
        Some(end) => &name[..end],
        None => name,
    }
}

/// API Gateway management calls are authorised by HTTP verb (`apigateway:GET`, `POST`, `PUT`,
/// `PATCH`, `DELETE` on a resource path), per the "API operations" table of the Amazon API
/// Gateway Management page of the Service Authorization Reference. The verb follows from the
/// operation name in the v1 and v2 APIs; names that fit no rule (e.g. `TagResource`, which is
/// PUT in v1 and POST in v2) are left unchanged.
fn api_gateway_verb(name: &str) -> Option<&'static str> {
    const EXACT: [(&str, &str); 7] = [
        ("ExportApi", "GET"),
        ("ImportApi", "PUT"),
        ("ImportApiKeys", "POST"),
        ("ImportDocumentationParts", "PUT"),
        ("ImportRestApi", "POST"),
        ("ReimportApi", "PUT"),
        ("ResetAuthorizersCache", "DELETE"),
    ];
    const PREFIXES: [(&str, &str); 8] = [
        ("Get", "GET"),
        ("Create", "POST"),
        ("Generate", "POST"),
        ("TestInvoke", "POST"),
        ("Put", "PUT"),
        ("Update", "PATCH"),
        ("Delete", "DELETE"),
        ("Flush", "DELETE"),
    ];
    if let Some((_, verb)) = EXACT.iter().find(|(op, _)| *op == name) {
        return Some(verb);
    }
    if name == "UntagResource" {
        return Some("DELETE");
    }
    PREFIXES
        .iter()
        .find(|(p, _)| {
            // Require an upper-case letter after the verb word ("Getaway" is not "Get" + noun).
            name.strip_prefix(p)
                .and_then(|rest| rest.bytes().next())
                .is_some_and(|c| c.is_ascii_uppercase())
        })
        .map(|(_, verb)| *verb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (eventSource, eventName, expected iam_action)
    #[rustfmt::skip]
    const CASES: &[(&str, &str, Option<&str>)] = &[
        // Defaults: first label + eventName as given.
        ("ec2.amazonaws.com", "DescribeInstances", Some("ec2:DescribeInstances")),
        ("iam.amazonaws.com", "CreateAccessKey", Some("iam:CreateAccessKey")),
        ("sts.amazonaws.com", "AssumeRole", Some("sts:AssumeRole")),
        ("sts.amazonaws.com", "AssumeRoleWithWebIdentity", Some("sts:AssumeRoleWithWebIdentity")),
        ("sts.amazonaws.com", "GetCallerIdentity", Some("sts:GetCallerIdentity")),
        ("kms.amazonaws.com", "Decrypt", Some("kms:Decrypt")),
        ("es.amazonaws.com", "CreateElasticsearchDomain", Some("es:CreateElasticsearchDomain")),
        ("sso.amazonaws.com", "ListPermissionSets", Some("sso:ListPermissionSets")),
        ("sso.amazonaws.com", "Authenticate", Some("sso:Authenticate")),
        ("signin.amazonaws.com", "ConsoleLogin", Some("signin:ConsoleLogin")),
        ("states.amazonaws.com", "StartExecution", Some("states:StartExecution")),
        ("elasticfilesystem.amazonaws.com", "CreateFileSystem", Some("elasticfilesystem:CreateFileSystem")),
        ("elasticmapreduce.amazonaws.com", "RunJobFlow", Some("elasticmapreduce:RunJobFlow")),
        ("execute-api.amazonaws.com", "Invoke", Some("execute-api:Invoke")),
        ("health.amazonaws.com", "DescribeEvents", Some("health:DescribeEvents")),
        ("ecr-public.amazonaws.com", "GetAuthorizationToken", Some("ecr-public:GetAuthorizationToken")),
        ("sagemaker.amazonaws.com", "CreateNotebookInstance", Some("sagemaker:CreateNotebookInstance")),
        ("lex.amazonaws.com", "CreateBot", Some("lex:CreateBot")),
        ("iot.amazonaws.com", "CreateThing", Some("iot:CreateThing")),
        ("mediastore.amazonaws.com", "CreateContainer", Some("mediastore:CreateContainer")),
        ("codecatalyst.amazonaws.com", "CreateProject", Some("codecatalyst:CreateProject")),
        ("support.amazonaws.com", "CreateCase", Some("support:CreateCase")),
        ("cloudhsm.amazonaws.com", "CreateCluster", Some("cloudhsm:CreateCluster")),
        ("bcm-data-exports.amazonaws.com", "CreateExport", Some("bcm-data-exports:CreateExport")),
        ("ce.amazonaws.com", "GetCostAndUsage", Some("ce:GetCostAndUsage")),
        ("identitystore.amazonaws.com", "CreateUser", Some("identitystore:CreateUser")),
        ("route53domains.amazonaws.com", "RegisterDomain", Some("route53domains:RegisterDomain")),
        ("savingsplans.amazonaws.com", "CreateSavingsPlan", Some("savingsplans:CreateSavingsPlan")),
        ("ses.amazonaws.com", "GetSendQuota", Some("ses:GetSendQuota")),
        ("route53.amazonaws.com", "ChangeResourceRecordSets", Some("route53:ChangeResourceRecordSets")),
        ("ec2.amazonaws.com.cn", "RunInstances", Some("ec2:RunInstances")),
        // Source exceptions (every `S` row of the generated table).
        ("qconnect.amazonaws.com", "CreateAssistant", Some("wisdom:CreateAssistant")),
        ("migrationhub.amazonaws.com", "ImportMigrationTask", Some("mgh:ImportMigrationTask")),
        ("pricelist.amazonaws.com", "GetProducts", Some("pricing:GetProducts")),
        ("api.pricing.amazonaws.com", "GetProducts", Some("pricing:GetProducts")),
        ("rdsdataapi.amazonaws.com", "ExecuteStatement", Some("rds-data:ExecuteStatement")),
        ("rdsdata.amazonaws.com", "BeginTransaction", Some("rds-data:BeginTransaction")),
        ("chime-sdk-media-pipelines.amazonaws.com", "CreateMediaCapturePipeline", Some("chime:CreateMediaCapturePipeline")),
        ("contact-lens.amazonaws.com", "ListRealtimeContactAnalysisSegments", Some("connect:ListRealtimeContactAnalysisSegments")),
        ("chime-sdk-voice.amazonaws.com", "CreateSipRule", Some("chime:CreateSipRule")),
        ("management-marketplace.amazonaws.com", "ListSellers", Some("aws-marketplace-management:ListSellers")),
        ("marketplacecatalog.amazonaws.com", "DescribeEntity", Some("aws-marketplace:DescribeEntity")),
        ("opensearchservice.amazonaws.com", "CreateDomain", Some("es:CreateDomain")),
        ("participant-connect.amazonaws.com", "SendMessage", Some("connect:SendMessage")),
        ("reporting-marketplace.amazonaws.com", "GetBuyerDashboard", Some("aws-marketplace:GetBuyerDashboard")),
        ("transcribestreaming.amazonaws.com", "StartStreamTranscription", Some("transcribe:StartStreamTranscription")),
        ("agreement-marketplace.amazonaws.com", "SearchAgreements", Some("aws-marketplace:SearchAgreements")),
        ("amazonmq.amazonaws.com", "CreateBroker", Some("mq:CreateBroker")),
        ("application-insights.amazonaws.com", "CreateApplication", Some("applicationinsights:CreateApplication")),
        ("appstream2.amazonaws.com", "CreateFleet", Some("appstream:CreateFleet")),
        ("awsmarketplace.amazonaws.com", "ViewSubscriptions", Some("aws-marketplace:ViewSubscriptions")),
        ("billingconsole.amazonaws.com", "GetBillingPreferences", Some("billing:GetBillingPreferences")),
        ("catalog.marketplace.amazonaws.com", "ListEntities", Some("aws-marketplace:ListEntities")),
        ("cloudcontrolapi.amazonaws.com", "ListResources", Some("cloudformation:ListResources")),
        ("data.iot.amazonaws.com", "Publish", Some("iot:Publish")),
        ("data.mediastore.amazonaws.com", "PutObject", Some("mediastore:PutObject")),
        ("deployment-marketplace.amazonaws.com", "PutDeploymentParameter", Some("aws-marketplace:PutDeploymentParameter")),
        ("discovery-marketplace.amazonaws.com", "SearchListings", Some("aws-marketplace:SearchListings")),
        ("email.amazonaws.com", "SendEmail", Some("ses:SendEmail")),
        ("entitlement.marketplace.amazonaws.com", "GetEntitlements", Some("aws-marketplace:GetEntitlements")),
        ("metering-marketplace.amazonaws.com", "BatchMeterUsage", Some("aws-marketplace:BatchMeterUsage")),
        ("models.lex.amazonaws.com", "PutBot", Some("lex:PutBot")),
        ("monitoring.amazonaws.com", "PutMetricAlarm", Some("cloudwatch:PutMetricAlarm")),
        ("mturk-requester.amazonaws.com", "CreateHIT", Some("mechanicalturk:CreateHIT")),
        ("pinpoint.amazonaws.com", "GetCampaigns", Some("mobiletargeting:GetCampaigns")),
        ("runtime.lex.amazonaws.com", "PostText", Some("lex:PostText")),
        ("runtime.sagemaker.amazonaws.com", "InvokeEndpoint", Some("sagemaker:InvokeEndpoint")),
        ("servicecatalog-appregistry.amazonaws.com", "CreateApplication", Some("servicecatalog:CreateApplication")),
        ("streams.dynamodb.amazonaws.com", "GetRecords", Some("dynamodb:GetRecords")),
        ("tagging.amazonaws.com", "GetResources", Some("tag:GetResources")),
        ("taxconsole.amazonaws.com", "GetTaxExemptionTypes", Some("tax:GetTaxExemptionTypes")),
        // Lambda: dated names and data events.
        ("lambda.amazonaws.com", "CreateFunction20150331", Some("lambda:CreateFunction")),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", Some("lambda:UpdateFunctionCode")),
        ("lambda.amazonaws.com", "GetFunction20150331v2", Some("lambda:GetFunction")),
        ("lambda.amazonaws.com", "ListFunctions20150331", Some("lambda:ListFunctions")),
        ("lambda.amazonaws.com", "PublishLayerVersion20181031", Some("lambda:PublishLayerVersion")),
        ("lambda.amazonaws.com", "Invoke", Some("lambda:InvokeFunction")),
        ("lambda.amazonaws.com", "InvokeWithResponseStream", Some("lambda:InvokeFunction")),
        ("lambda.amazonaws.com", "DeleteFunction", Some("lambda:DeleteFunction")),
        // CloudFront dated names.
        ("cloudfront.amazonaws.com", "CreateDistribution2020_05_31", Some("cloudfront:CreateDistribution")),
        ("cloudfront.amazonaws.com", "GetDistribution2019_03_26", Some("cloudfront:GetDistribution")),
        ("cloudfront.amazonaws.com", "UpdateDistribution2017_03_25", Some("cloudfront:UpdateDistribution")),
        ("cloudfront.amazonaws.com", "CreateInvalidation", Some("cloudfront:CreateInvalidation")),
        // Not a date: kept.
        ("s3.amazonaws.com", "ListObjectsV2", Some("s3:ListBucket")),
        ("ec2.amazonaws.com", "Foo20151399", Some("ec2:Foo20151399")),
        ("ec2.amazonaws.com", "20150331", Some("ec2:20150331")),
        // S3 renames.
        ("s3.amazonaws.com", "ListObjects", Some("s3:ListBucket")),
        ("s3.amazonaws.com", "ListBuckets", Some("s3:ListAllMyBuckets")),
        ("s3.amazonaws.com", "HeadObject", Some("s3:GetObject")),
        ("s3.amazonaws.com", "HeadBucket", Some("s3:ListBucket")),
        ("s3.amazonaws.com", "GetBucketLocation", Some("s3:GetBucketLocation")),
        ("s3.amazonaws.com", "ListObjectVersions", Some("s3:ListBucketVersions")),
        ("s3.amazonaws.com", "UploadPart", Some("s3:PutObject")),
        ("s3.amazonaws.com", "CreateMultipartUpload", Some("s3:PutObject")),
        ("s3.amazonaws.com", "CompleteMultipartUpload", Some("s3:PutObject")),
        ("s3.amazonaws.com", "DeleteObjects", Some("s3:DeleteObject")),
        ("s3.amazonaws.com", "CopyObject", Some("s3:PutObject")),
        ("s3.amazonaws.com", "DeleteBucketReplication", Some("s3:PutReplicationConfiguration")),
        ("s3.amazonaws.com", "PutBucketReplication", Some("s3:PutReplicationConfiguration")),
        ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock", Some("s3:PutBucketPublicAccessBlock")),
        ("s3.amazonaws.com", "DeleteBucketEncryption", Some("s3:PutEncryptionConfiguration")),
        ("s3.amazonaws.com", "GetBucketLifecycle", Some("s3:GetLifecycleConfiguration")),
        ("s3.amazonaws.com", "PutBucketLifecycle", Some("s3:PutLifecycleConfiguration")),
        ("s3.amazonaws.com", "ListParts", Some("s3:ListMultipartUploadParts")),
        ("s3.amazonaws.com", "GetObject", Some("s3:GetObject")),
        ("s3.amazonaws.com", "PutBucketPolicy", Some("s3:PutBucketPolicy")),
        // S3 rename only applies to S3.
        ("ec2.amazonaws.com", "DeleteBucketEncryption", Some("ec2:DeleteBucketEncryption")),
        // KMS.
        ("kms.amazonaws.com", "ReEncrypt", Some("kms:ReEncryptFrom")),
        ("kms.amazonaws.com", "DeleteKey", Some("kms:ScheduleKeyDeletion")),
        // API Gateway management: HTTP verbs.
        ("apigateway.amazonaws.com", "CreateRestApi", Some("apigateway:POST")),
        ("apigateway.amazonaws.com", "GetRestApis", Some("apigateway:GET")),
        ("apigateway.amazonaws.com", "UpdateStage", Some("apigateway:PATCH")),
        ("apigateway.amazonaws.com", "DeleteRestApi", Some("apigateway:DELETE")),
        ("apigateway.amazonaws.com", "PutIntegration", Some("apigateway:PUT")),
        ("apigateway.amazonaws.com", "ImportRestApi", Some("apigateway:POST")),
        // The data: tagging through API Gateway V2 is POST /v2/tags/{arn}.
        ("apigateway.amazonaws.com", "TagResource", Some("apigateway:POST")),
        // Application Auto Scaling under autoscaling.amazonaws.com.
        ("autoscaling.amazonaws.com", "DescribeScalableTargets", Some("application-autoscaling:DescribeScalableTargets")),
        ("autoscaling.amazonaws.com", "UpdateAutoScalingGroup", Some("autoscaling:UpdateAutoScalingGroup")),
        // Weird input.
        ("", "DescribeInstances", None),
        ("ec2.amazonaws.com", "", None),
        ("", "", None),
        ("ec2", "DescribeInstances", None),
        ("amazonaws.com", "X", None),
        (".amazonaws.com", "X", None),
        ("ec2..amazonaws.com", "X", None),
        ("example.com", "X", None),
        ("ec2.amazonaws.com.evil.example", "X", None),
        ("EC2.AMAZONAWS.COM", "DescribeInstances", Some("ec2:DescribeInstances")),
        ("MONITORING.amazonaws.com", "GetDashboard", Some("cloudwatch:GetDashboard")),
        ("S3.amazonaws.com", "HeadObject", Some("s3:GetObject")),
        ("ëc2.amazonaws.com", "DescribeInstances", None),
        ("e c2.amazonaws.com", "DescribeInstances", None),
        ("ec2.amazonaws.com", "Déscribe20150331", Some("ec2:Déscribe")),
        ("ec2.amazonaws.com", "Descrïbe", Some("ec2:Descrïbe")),
        ("lambda.amazonaws.com", "é20150331v2", Some("lambda:é20150331v2")),
        ("lambda.amazonaws.com", "v2", Some("lambda:v2")),
        ("lambda.amazonaws.com", "X20150331v", Some("lambda:X20150331v")),
        ("cloudfront.amazonaws.com", "_05_31", Some("cloudfront:_05_31")),
    ];

    #[test]
    fn table_driven() {
        assert!(CASES.len() >= 60);
        let mut failures = Vec::new();
        for &(source, name, want) in CASES {
            let got = iam_action(source, name);
            if got.as_deref() != want {
                failures.push(format!(
                    "({source:?}, {name:?}): got {got:?}, want {want:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_source_exception_is_tested() {
        for (host, prefix) in crate::event::iam_map::sources() {
            let source = format!("{host}.amazonaws.com");
            assert_eq!(service_prefix(&source), Some(*prefix), "{source}");
            assert!(
                CASES.iter().any(|(s, _, _)| *s == source),
                "no table row for {source}"
            );
        }
    }

    /// S3 eventNames that are not the IAM action that authorises them (eventName, IAM action),
    /// written by hand from the "Permissions" section of each S3 API reference page: the data
    /// must agree with every one.
    #[rustfmt::skip]
    const S3_API_REFERENCE: [(&str, &str); 55] = [
    ("CompleteMultipartUpload", "PutObject"),
    // Needs s3:PutObject on the target (primary) and s3:GetObject on the source.
    ("CopyObject", "PutObject"),
    ("CreateMultipartUpload", "PutObject"),
    ("DeleteBucketAnalyticsConfiguration", "PutAnalyticsConfiguration"),
    ("DeleteBucketCors", "PutBucketCORS"),
    ("DeleteBucketEncryption", "PutEncryptionConfiguration"),
    ("DeleteBucketIntelligentTieringConfiguration", "PutIntelligentTieringConfiguration"),
    ("DeleteBucketInventoryConfiguration", "PutInventoryConfiguration"),
    ("DeleteBucketLifecycle", "PutLifecycleConfiguration"),
    ("DeleteBucketMetricsConfiguration", "PutMetricsConfiguration"),
    ("DeleteBucketOwnershipControls", "PutBucketOwnershipControls"),
    ("DeleteBucketPublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("DeleteBucketReplication", "PutReplicationConfiguration"),
    ("DeleteBucketTagging", "PutBucketTagging"),
    ("DeleteObjects", "DeleteObject"),
    ("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("GetBucketAccelerateConfiguration", "GetAccelerateConfiguration"),
    ("GetBucketAnalyticsConfiguration", "GetAnalyticsConfiguration"),
    ("GetBucketCors", "GetBucketCORS"),
    ("GetBucketEncryption", "GetEncryptionConfiguration"),
    ("GetBucketIntelligentTieringConfiguration", "GetIntelligentTieringConfiguration"),
    ("GetBucketInventoryConfiguration", "GetInventoryConfiguration"),
    ("GetBucketLifecycle", "GetLifecycleConfiguration"),
    ("GetBucketLifecycleConfiguration", "GetLifecycleConfiguration"),
    ("GetBucketMetricsConfiguration", "GetMetricsConfiguration"),
    ("GetBucketNotificationConfiguration", "GetBucketNotification"),
    ("GetBucketReplication", "GetReplicationConfiguration"),
    ("GetObjectLockConfiguration", "GetBucketObjectLockConfiguration"),
    ("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    ("HeadBucket", "ListBucket"),
    ("HeadObject", "GetObject"),
    ("ListBucketAnalyticsConfigurations", "GetAnalyticsConfiguration"),
    ("ListBucketIntelligentTieringConfigurations", "GetIntelligentTieringConfiguration"),
    ("ListBucketInventoryConfigurations", "GetInventoryConfiguration"),
    ("ListBucketMetricsConfigurations", "GetMetricsConfiguration"),
    ("ListBuckets", "ListAllMyBuckets"),
    ("ListMultipartUploads", "ListBucketMultipartUploads"),
    ("ListObjects", "ListBucket"),
    ("ListObjectsV2", "ListBucket"),
    ("ListObjectVersions", "ListBucketVersions"),
    ("ListParts", "ListMultipartUploadParts"),
    ("PutBucketAccelerateConfiguration", "PutAccelerateConfiguration"),
    ("PutBucketAnalyticsConfiguration", "PutAnalyticsConfiguration"),
    ("PutBucketCors", "PutBucketCORS"),
    ("PutBucketEncryption", "PutEncryptionConfiguration"),
    ("PutBucketIntelligentTieringConfiguration", "PutIntelligentTieringConfiguration"),
    ("PutBucketInventoryConfiguration", "PutInventoryConfiguration"),
    ("PutBucketLifecycle", "PutLifecycleConfiguration"),
    ("PutBucketLifecycleConfiguration", "PutLifecycleConfiguration"),
    ("PutBucketMetricsConfiguration", "PutMetricsConfiguration"),
    ("PutBucketNotificationConfiguration", "PutBucketNotification"),
    ("PutBucketReplication", "PutReplicationConfiguration"),
    ("PutObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
    ("UploadPart", "PutObject"),
    // Needs s3:PutObject on the target (primary) and s3:GetObject on the source.
    ("UploadPartCopy", "PutObject"),
];

    #[test]
    fn s3_agrees_with_the_api_reference() {
        let wrong: Vec<String> = S3_API_REFERENCE
            .iter()
            .filter_map(|(name, action)| {
                let got = iam_action("s3.amazonaws.com", name)?;
                (got != format!("s3:{action}")).then(|| format!("{name}: {got}, want s3:{action}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn service_prefix_borrows_or_maps() {
        assert_eq!(
            service_prefix("monitoring.amazonaws.com"),
            Some("cloudwatch")
        );
        assert_eq!(
            service_prefix("streams.dynamodb.amazonaws.com"),
            Some("dynamodb")
        );
        assert_eq!(service_prefix("ec2.amazonaws.com"), Some("ec2"));
        assert_eq!(service_prefix("foo.bar.amazonaws.com"), Some("foo"));
        assert_eq!(service_prefix("Ec2.amazonaws.com"), Some("Ec2"));
        assert_eq!(service_prefix(""), None);
        assert_eq!(service_prefix("amazonaws.com"), None);
    }

    #[test]
    fn long_and_odd_input_does_not_panic() {
        let long_label = "a".repeat(100_000);
        let source = format!("{long_label}.amazonaws.com");
        let name = format!("{}20150331v2", "B".repeat(100_000));
        let got = iam_action(&source, &name).unwrap();
        assert_eq!(got.len(), 100_000 + 1 + 100_000);
        let odd = [
            "",
            ".",
            "..",
            "v",
            "0",
            "2015_05_31",
            "X2015_05_3",
            "\u{0}",
            "ü",
            "💥20150331",
            "a💥",
            ".amazonaws.com",
            "💥.amazonaws.com",
            "amazonaws.com💥",
            "x.AMAZONAWS.COM.CN",
        ];
        for s in odd {
            for n in odd {
                let _ = iam_action(s, n);
                let _ = service_prefix(s);
                let _ = strip_api_version(n);
                let _ = api_gateway_verb(n);
            }
        }
    }

    /// Map every (eventSource, eventName) of the shared Panther corpus; print distinct results.
    #[test]
    #[ignore = "needs ../shared/corpus: scripts/test.sh runs it where the corpus is"]
    fn shared_corpus_maps_without_panic() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson",
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the shared corpus {}: {e}", path.display()));
        let mut distinct = std::collections::BTreeMap::new();
        let mut records = 0usize;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            records += 1;
            let source = record["eventSource"].as_str().unwrap_or_default();
            let name = record["eventName"].as_str().unwrap_or_default();
            let action = iam_action(source, name);
            if let Some(action) = &action {
                let (prefix, rest) = action.split_once(':').expect("prefix:action");
                assert!(!prefix.is_empty() && !rest.is_empty(), "{action}");
            }
            distinct.insert((source.to_owned(), name.to_owned()), action);
        }
        assert!(records > 0, "no records parsed from {}", path.display());
        eprintln!(
            "{records} records, {} distinct (eventSource, eventName):",
            distinct.len()
        );
        for ((source, name), action) in &distinct {
            eprintln!(
                "  {source} {name} -> {}",
                action.as_deref().unwrap_or("None")
            );
        }
    }
}

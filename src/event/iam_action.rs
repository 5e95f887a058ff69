//! Map a CloudTrail `(eventSource, eventName)` pair to the IAM action that authorises the call
//! (`aws.cloudtrail.iam_action`), e.g. `ec2.amazonaws.com` + `DescribeInstances` ->
//! `ec2:DescribeInstances`, so that recorded calls can be compared with IAM policy statements
//! such as `"Action": ["ec2:Describe*"]`.
//!
//! # Rules
//!
//! 1. **Service prefix.** By default the IAM service prefix is the first DNS label of the
//!    eventSource (`ec2.amazonaws.com` -> `ec2`). A few services log under an endpoint name that is
//!    not their IAM prefix; those are listed in `SOURCE_PREFIXES`. An eventSource that does not
//!    end in `.amazonaws.com` (or `.amazonaws.com.cn`), or whose first label is not a plausible
//!    prefix (`[A-Za-z0-9-]+`), has no prefix (`None`).
//! 2. **Dated API versions.** Lambda and CloudFront log the API version in the eventName
//!    (`UpdateFunctionCode20150331v2`, `CreateDistribution2020_05_31`); the trailing
//!    `YYYYMMDD[vN]` / `YYYY_MM_DD` is removed. No IAM action ends in such a date, so this is
//!    applied to every service (it also covers any other service that does the same).
//! 3. **Per-service renames** where the eventName is documented not to be the IAM action:
//!    S3 (`S3_RENAMES`), Lambda data events (`Invoke` -> `lambda:InvokeFunction`), KMS
//!    (`ReEncrypt`, `DeleteKey`), API Gateway management calls (authorised by HTTP verb,
//!    `apigateway:GET` etc.), and Application Auto Scaling calls logged under
//!    `autoscaling.amazonaws.com`.
//! 4. Otherwise the eventName is kept exactly as CloudTrail gives it (IAM action matching is
//!    case-insensitive, so no case normalisation is needed; the prefix is lower-cased because IAM
//!    prefixes always are).
//!
//! Events that are not authorised by any IAM action still get `prefix:EventName`, because a
//! stable, searchable value is more useful than none: `signin:ConsoleLogin`,
//! `signin:SwitchRole`, `sso:Authenticate`, `sts:GetCallerIdentity` (documented as requiring no
//! permission) and AWS service events. Do not expect those to appear in any policy.
//!
//! Ambiguities that cannot be resolved from the two fields alone (documented choices):
//! * S3 calls on a specific object version (`GetObject` with a `versionId` needs
//!   `s3:GetObjectVersion`) keep the unversioned action.
//! * S3 `CopyObject` / `UploadPartCopy` need `s3:PutObject` on the target and `s3:GetObject` on
//!   the source; the primary (target) action `s3:PutObject` is returned.
//! * KMS `ReEncrypt` needs `kms:ReEncryptFrom` (source key) and `kms:ReEncryptTo` (destination
//!   key); `kms:ReEncryptFrom` is returned.
//!
//! # Sources
//! * AWS Service Authorization Reference (service prefixes; the "API operations" tables of
//!   Amazon S3, AWS Cloud Control API -> `cloudformation`, Amazon API Gateway Management ->
//!   HTTP-verb actions).
//! * Amazon S3 API reference "Permissions" sections (e.g. `HeadObject` needs `s3:GetObject`,
//!   `ListObjectsV2` needs `s3:ListBucket`, `DeleteBucketReplication` needs
//!   `s3:PutReplicationConfiguration`).
//! * Service CloudTrail pages for the eventSource values (`pinpoint.amazonaws.com`,
//!   `metering-marketplace.amazonaws.com`, `catalog.marketplace.amazonaws.com`, ...).
//! * Cross-checked (read, not copied) against how open-source tools map CloudTrail to IAM:
//!   flosell/trailscraper (`cloudtrail.py`), duo-labs/cloudtracker (service renames, date
//!   suffixes), and a TypeScript CloudTrail-to-IAM mapper (service overrides such as
//!   `amazonmq` -> `mq`, `application-insights` -> `applicationinsights`).

/// Endpoint domain suffixes accepted as "an AWS service endpoint" (compared ignoring ASCII case).
const ENDPOINT_SUFFIXES: [&str; 2] = [".amazonaws.com", ".amazonaws.com.cn"];

/// eventSource host (everything before `.amazonaws.com`, lower case) whose IAM service prefix is
/// not its first label. Sorted by `cmp_ignore_ascii_case` (checked by a test) for binary
/// search. Every other host uses its first label unchanged (`iam`, `sts`, `kms`, `s3`, `es`,
/// `sso`, `signin`, `states`, `elasticfilesystem`, `elasticmapreduce`, `execute-api`,
/// `apigateway`, `health`, `ecr-public`, `sagemaker`, `lex`, `codecatalyst`, `support`,
/// `cloudhsm`, `bcm-data-exports`, `ce`, `identitystore`, `route53domains`, `savingsplans`, ...
/// are all their own prefix).
#[rustfmt::skip]
static SOURCE_PREFIXES: [(&str, &str); 25] = [
    // AWS Marketplace Agreement/Catalog/Deployment/Discovery/Entitlement/Metering APIs all
    // authorise under `aws-marketplace` (Service Authorization Reference; Marketplace CloudTrail
    // logging pages give the eventSource values).
    ("agreement-marketplace", "aws-marketplace"),
    // Amazon MQ logs as amazonmq.amazonaws.com; IAM prefix `mq`.
    ("amazonmq", "mq"),
    // CloudWatch Application Insights; IAM prefix `applicationinsights`.
    ("application-insights", "applicationinsights"),
    // AppStream 2.0; IAM prefix `appstream`.
    ("appstream2", "appstream"),
    // Legacy AWS Marketplace console source.
    ("awsmarketplace", "aws-marketplace"),
    // Billing console. Since the 2023 fine-grained billing permissions, most billingconsole
    // eventNames are actions of the `billing` prefix (GetBillingPreferences, ListBillingViews,
    // ...); the legacy `aws-portal` prefix only has coarse actions (ViewBilling, ModifyBilling)
    // that never equal an eventName. Some billingconsole events belong to `payments`, `tax`,
    // `account` or `consolidatedbilling`; one prefix per source cannot express that.
    ("billingconsole", "billing"),
    ("catalog.marketplace", "aws-marketplace"),
    // AWS Cloud Control API: "service prefix: cloudformation" (Service Authorization Reference).
    ("cloudcontrolapi", "cloudformation"),
    // AWS IoT data plane (Publish, GetThingShadow, ...) authorises as `iot:*`.
    ("data.iot", "iot"),
    // AWS Elemental MediaStore data plane authorises as `mediastore:*`.
    ("data.mediastore", "mediastore"),
    ("deployment-marketplace", "aws-marketplace"),
    ("discovery-marketplace", "aws-marketplace"),
    // Legacy SES endpoint name (current events use ses.amazonaws.com).
    ("email", "ses"),
    ("entitlement.marketplace", "aws-marketplace"),
    ("metering-marketplace", "aws-marketplace"),
    // Amazon Lex V1 model-building API.
    ("models.lex", "lex"),
    // Amazon CloudWatch metrics/alarms endpoint.
    ("monitoring", "cloudwatch"),
    // Amazon Mechanical Turk.
    ("mturk-requester", "mechanicalturk"),
    // Amazon Pinpoint logs as pinpoint.amazonaws.com; IAM prefix `mobiletargeting`.
    ("pinpoint", "mobiletargeting"),
    // Amazon Lex V1 runtime.
    ("runtime.lex", "lex"),
    // SageMaker runtime (InvokeEndpoint) authorises as `sagemaker:InvokeEndpoint`.
    ("runtime.sagemaker", "sagemaker"),
    // Service Catalog AppRegistry actions are in the `servicecatalog` prefix.
    ("servicecatalog-appregistry", "servicecatalog"),
    // DynamoDB Streams (GetRecords, GetShardIterator, ...) authorise as `dynamodb:*`.
    ("streams.dynamodb", "dynamodb"),
    // Resource Groups Tagging API; IAM prefix `tag`.
    ("tagging", "tag"),
    // Tax settings console; IAM prefix `tax`.
    ("taxconsole", "tax"),
];

/// S3 eventNames that are not the IAM action that authorises them (eventName, IAM action).
/// From the "Permissions" section of each S3 API reference page and the S3 section of the
/// Service Authorization Reference. Sorted by `cmp_ignore_ascii_case` (checked by a test).
#[rustfmt::skip]
static S3_RENAMES: [(&str, &str); 55] = [
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

/// Application Auto Scaling operations that exist in no EC2 Auto Scaling API and are logged under
/// `autoscaling.amazonaws.com`; they authorise as `application-autoscaling:*`.
const APPLICATION_AUTOSCALING_ONLY: [&str; 6] = [
    "DeleteScalingPolicy",
    "DeregisterScalableTarget",
    "DescribeScalableTargets",
    "DescribeScalingPolicies",
    "PutScheduledAction",
    "RegisterScalableTarget",
];

/// The IAM action of a CloudTrail event, e.g. `ec2:DescribeInstances`.
/// `None` when the event source is not an AWS service endpoint we can map (e.g. empty).
pub fn iam_action(event_source: &str, event_name: &str) -> Option<String> {
    let prefix = service_prefix(event_source)?;
    if event_name.is_empty() {
        return None;
    }
    let name = strip_api_version(event_name);

    let (prefix, action): (&str, &str) = if prefix.eq_ignore_ascii_case("s3") {
        (prefix, lookup(&S3_RENAMES, name).unwrap_or(name))
    } else if prefix.eq_ignore_ascii_case("lambda") {
        // Lambda data events are logged as `Invoke`; the action is `lambda:InvokeFunction`,
        // which also authorises InvokeWithResponseStream.
        match name {
            "Invoke" | "InvokeWithResponseStream" => (prefix, "InvokeFunction"),
            _ => (prefix, name),
        }
    } else if prefix.eq_ignore_ascii_case("kms") {
        match name {
            // See module docs: ReEncrypt needs ReEncryptFrom + ReEncryptTo.
            "ReEncrypt" => (prefix, "ReEncryptFrom"),
            // `DeleteKey` is the service event logged when a key scheduled for deletion is
            // deleted; the permission that causes it is kms:ScheduleKeyDeletion.
            "DeleteKey" => (prefix, "ScheduleKeyDeletion"),
            _ => (prefix, name),
        }
    } else if prefix.eq_ignore_ascii_case("apigateway") {
        (prefix, api_gateway_verb(name).unwrap_or(name))
    } else if prefix.eq_ignore_ascii_case("autoscaling")
        && APPLICATION_AUTOSCALING_ONLY.contains(&name)
    {
        ("application-autoscaling", name)
    } else {
        (prefix, name)
    };

    let mut out = String::with_capacity(prefix.len() + 1 + action.len());
    out.push_str(prefix);
    out.make_ascii_lowercase(); // IAM prefixes are lower case; the eventName keeps its case.
    out.push(':');
    out.push_str(action);
    Some(out)
}

/// The IAM service prefix for a CloudTrail eventSource, e.g. `monitoring.amazonaws.com` -> `cloudwatch`.
///
/// Returns a `&'static str` for the exceptions in `SOURCE_PREFIXES`, otherwise the first label
/// of `event_source` as given (not lower-cased; [`iam_action`] lower-cases it).
pub fn service_prefix(event_source: &str) -> Option<&str> {
    let host = ENDPOINT_SUFFIXES.iter().find_map(|suffix| {
        let cut = event_source.len().checked_sub(suffix.len())?;
        // The suffix is ASCII, so when the bytes match `cut` is a char boundary.
        event_source.as_bytes()[cut..]
            .eq_ignore_ascii_case(suffix.as_bytes())
            .then(|| &event_source[..cut])
    })?;
    if let Some(prefix) = lookup(&SOURCE_PREFIXES, host) {
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

/// Compare two strings by their ASCII-lower-cased bytes.
fn cmp_ignore_ascii_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Binary search a table sorted by `cmp_ignore_ascii_case`.
fn lookup(table: &[(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    table
        .binary_search_by(|(k, _)| cmp_ignore_ascii_case(k, key))
        .ok()
        .map(|i| table[i].1)
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
        // Source exceptions (every row of SOURCE_PREFIXES).
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
        ("apigateway.amazonaws.com", "TagResource", Some("apigateway:TagResource")),
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
        for (host, prefix) in SOURCE_PREFIXES {
            let source = format!("{host}.amazonaws.com");
            assert_eq!(service_prefix(&source), Some(prefix), "{source}");
            assert!(
                CASES.iter().any(|(s, _, _)| *s == source),
                "no table row for {source}"
            );
        }
    }

    #[test]
    fn every_s3_rename_maps() {
        for (name, action) in S3_RENAMES {
            let want = format!("s3:{action}");
            assert_eq!(
                iam_action("s3.amazonaws.com", name).as_deref(),
                Some(want.as_str())
            );
        }
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        fn check(table: &[(&str, &str)]) {
            for pair in table.windows(2) {
                assert_eq!(
                    cmp_ignore_ascii_case(pair[0].0, pair[1].0),
                    std::cmp::Ordering::Less,
                    "{:?} must sort before {:?}",
                    pair[0].0,
                    pair[1].0
                );
            }
        }
        check(&SOURCE_PREFIXES);
        check(&S3_RENAMES);
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
    fn shared_corpus_maps_without_panic() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson",
        );
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("shared corpus absent: skipped");
            return;
        };
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

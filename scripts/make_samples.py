#!/usr/bin/env python3
"""Writes examples/cloudtrail-sample.ndjson: realistic CloudTrail records written by us for the demo
and the tests (several principals, SDK / CLI / console / Terraform / service user agents, regions,
AccessDenied errors). Deterministic: the same file every run. Times are relative to 2026-01-15 and
are shifted to "now" by the loader."""
import json, random, uuid

rng = random.Random(20260115)
ACCOUNT = "111122223333"

PRINCIPALS = [
    # a SaaS vendor's access key: Ruby SDK from Tokyo, calls EC2 and SSM
    dict(identity={"type": "IAMUser", "principalId": "AIDAVENDOR000000EXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/vendor-monitoring",
                   "accountId": ACCOUNT, "accessKeyId": "AKIAVENDOR00EXAMPLE1", "userName": "vendor-monitoring"},
         agents=["aws-sdk-ruby/1.67.0 ruby/2.4.2 x86_64-linux memoizing", "aws-sdk-ruby3/3.130.0 ruby/3.1.2 x86_64-linux aws-sdk-ssm/1.150.0"],
         ips=["54.64.10.21", "54.64.10.22"], regions=["ap-northeast-1"],
         calls=[("ec2.amazonaws.com", "DescribeInstances", True), ("ec2.amazonaws.com", "DescribeRegions", True),
                ("ssm.amazonaws.com", "SendCommand", False), ("iam.amazonaws.com", "ListUsers", True)],
         denied={"ListUsers"}),
    # a CI role assumed by Terraform
    dict(identity={"type": "AssumedRole", "principalId": "AROACIROLE000EXAMPLE:terraform-ci", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/terraform-ci",
                   "accountId": ACCOUNT, "accessKeyId": "ASIACIROLE0EXAMPLE01",
                   "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROACIROLE000EXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:role/ci-deploy",
                                                        "accountId": ACCOUNT, "userName": "ci-deploy"},
                                      "webIdFederationData": {}, "attributes": {"creationDate": "2026-01-15T08:00:00Z", "mfaAuthenticated": "false"}}},
         agents=["APN/1.0 HashiCorp/1.0 Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.24.0 ua/2.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.47.7"],
         ips=["34.201.5.17"], regions=["us-east-1", "eu-west-1"],
         calls=[("s3.amazonaws.com", "CreateBucket", False), ("s3.amazonaws.com", "PutBucketPolicy", False), ("iam.amazonaws.com", "CreateRole", False),
                ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", False), ("ec2.amazonaws.com", "DescribeSecurityGroups", True)],
         denied=set()),
    # a developer with the CLI v2 and Boto3
    dict(identity={"type": "IAMUser", "principalId": "AIDADEVALICE0EXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                   "accountId": ACCOUNT, "accessKeyId": "AKIAALICE000EXAMPLE1", "userName": "alice"},
         agents=["aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0-14-generic exe/x86_64.ubuntu.22 prompt/off command/s3.ls",
                 "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.1"],
         ips=["203.0.113.44"], regions=["eu-west-1"],
         calls=[("s3.amazonaws.com", "ListBuckets", True), ("sts.amazonaws.com", "GetCallerIdentity", True), ("dynamodb.amazonaws.com", "DescribeTable", True),
                ("kms.amazonaws.com", "Decrypt", True), ("secretsmanager.amazonaws.com", "GetSecretValue", True)],
         denied={"GetSecretValue"}),
    # a person in the console
    dict(identity={"type": "AssumedRole", "principalId": "AROAADMIN0000EXAMPLE:bob@example.com", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AdminSSO/bob@example.com",
                   "accountId": ACCOUNT, "accessKeyId": "ASIABOBCONSOLEXAMPLE",
                   "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAADMIN0000EXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:role/AdminSSO",
                                                        "accountId": ACCOUNT, "userName": "AdminSSO"},
                                      "attributes": {"creationDate": "2026-01-15T09:00:00Z", "mfaAuthenticated": "true"}}},
         agents=["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                 "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.217-183.860.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]"],
         ips=["198.51.100.7"], regions=["us-east-1"],
         calls=[("ec2.amazonaws.com", "DescribeInstances", True), ("s3.amazonaws.com", "GetBucketAcl", True), ("ec2.amazonaws.com", "TerminateInstances", False),
                ("iam.amazonaws.com", "AttachRolePolicy", False)],
         denied={"AttachRolePolicy"}),
    # AWS services acting on the account's behalf
    dict(identity={"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
         agents=["autoscaling.amazonaws.com"], ips=["autoscaling.amazonaws.com"], regions=["us-east-1"],
         calls=[("ec2.amazonaws.com", "RunInstances", False), ("ec2.amazonaws.com", "CreateTags", False)], denied=set()),
    dict(identity={"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"},
         agents=["cloudformation.amazonaws.com"], ips=["cloudformation.amazonaws.com"], regions=["eu-west-1"],
         calls=[("iam.amazonaws.com", "GetRole", True), ("lambda.amazonaws.com", "GetFunction20150331v2", True)], denied=set()),
]

DENIED_CODE = {"ec2.amazonaws.com": "Client.UnauthorizedOperation"}

def record(i, p, t):
    src, name, ro = rng.choice(p["calls"])
    region = rng.choice(p["regions"])
    ua = rng.choice(p["agents"])
    ip = rng.choice(p["ips"])
    r = {
        "eventVersion": "1.09",
        "userIdentity": p["identity"],
        "eventTime": t,
        "eventSource": src,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": {"maxResults": 100} if ro else {"name": f"resource-{i % 17}"},
        "responseElements": None if ro else {"requestId": str(uuid.UUID(int=rng.getrandbits(128)))},
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": ro,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": f"{src.split('.')[0]}.{region}.amazonaws.com"},
    }
    if name in p["denied"] and rng.random() < 0.8:
        r["errorCode"] = DENIED_CODE.get(src, "AccessDenied")
        r["errorMessage"] = f"User: {p['identity'].get('arn')} is not authorized to perform: {src.split('.')[0]}:{name} because no identity-based policy allows the action"
        r["responseElements"] = None
    return r

def main():
    out = []
    base = 1768464000  # 2026-01-15T08:00:00Z
    for i in range(300):
        p = PRINCIPALS[i % len(PRINCIPALS)] if rng.random() < 0.7 else rng.choice(PRINCIPALS)
        secs = base + i * 40 + rng.randrange(40)
        import datetime
        t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(record(i, p, t))
    # one console sign-in
    out.append({"eventVersion": "1.09", "userIdentity": {"type": "AssumedRole", "principalId": "AROAADMIN0000EXAMPLE:bob@example.com",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AdminSSO/bob@example.com", "accountId": ACCOUNT},
                "eventTime": "2026-01-15T11:20:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7", "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "requestParameters": None, "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MobileVersion": "No", "MFAUsed": "Yes"},
                "eventID": "5f1a2b3c-0000-4000-8000-00000000c0de", "readOnly": False, "eventType": "AwsConsoleSignIn", "managementEvent": True,
                "recipientAccountId": ACCOUNT, "eventCategory": "Management"})
    out.sort(key=lambda r: r["eventTime"])
    with open("examples/cloudtrail-sample.ndjson", "w") as f:
        for r in out:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")

main()

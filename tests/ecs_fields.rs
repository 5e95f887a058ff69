//! ECS fields as Elastic's CloudTrail integration gives them, end to end: records written after
//! the examples of AWS's documentation (CloudTrail sign-in events, IAM Identity Center sign-in,
//! IAM user and group calls, an assumed-role session with TLS details) are ingested into the real
//! OpenSearch with the shipped template, and each rule is checked by a search on the mapped
//! field, the way a user or a ported detection rule finds them.

mod common;

use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};

const SAMPLES: &[&str] = &[
    // A failed console sign-in of an IAM user: no errorCode, the result in responseElements.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEJANE","arn":"arn:aws:iam::111122223333:user/JaneDoe","accountId":"111122223333","userName":"JaneDoe"},"eventTime":"2026-11-02T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10","userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","requestParameters":null,"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},"eventID":"ecs-fields-0001","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
    // A failed MFA check: no errorCode, no errorMessage either.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEJANE","arn":"arn:aws:iam::111122223333:user/JaneDoe","accountId":"111122223333","userName":"JaneDoe"},"eventTime":"2026-11-02T10:00:05Z","eventSource":"signin.amazonaws.com","eventName":"CheckMfa","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"CheckMfa":"Failure"},"additionalEventData":{"MfaType":"Virtual MFA"},"eventID":"ecs-fields-0002","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
    // An IAM Identity Center sign-in: the user name only in additionalEventData, empty ARN.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IdentityCenterUser","arn":"","accountId":"111122223333","accessKeyId":"","credentialId":"c-1"},"eventTime":"2026-11-02T10:01:00Z","eventSource":"signin.amazonaws.com","eventName":"CredentialVerification","awsRegion":"us-east-1","sourceIPAddress":"2001:db8::10","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":null,"additionalEventData":{"CredentialType":"PASSWORD","UserName":"carol@example.com"},"serviceEventDetails":{"CredentialVerification":"Failure","FailureReason":"InvalidCredentials"},"eventID":"ecs-fields-0003","readOnly":false,"eventType":"AwsServiceEvent","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
    // CreateUser by an IAM user, over TLS 1.3.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEADMIN","arn":"arn:aws:iam::111122223333:user/admin@example.com","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEADMIN","userName":"admin@example.com"},"eventTime":"2026-11-02T10:02:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"Bob","path":"/"},"responseElements":{"user":{"path":"/","userName":"Bob","userId":"AIDAEXAMPLEBOB","arn":"arn:aws:iam::111122223333:user/Bob","createDate":"Nov 2, 2026, 10:02:00 AM"}},"requestID":"r-4","eventID":"ecs-fields-0004","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}"#,
    // AddUserToGroup from a role session: user.name is the role, the session name kept aside.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEADMIN:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEALICE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEADMIN","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"},"attributes":{"creationDate":"2026-11-02T09:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2026-11-02T10:03:00Z","eventSource":"iam.amazonaws.com","eventName":"AddUserToGroup","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.8","userAgent":"aws-cli/2.15.0","requestParameters":{"groupName":"Developers","userName":"Bob"},"responseElements":null,"requestID":"r-5","eventID":"ecs-fields-0005","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}"#,
    // An EC2 security group is not a group of users.
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEADMIN","arn":"arn:aws:iam::111122223333:user/admin@example.com","accountId":"111122223333","userName":"admin@example.com"},"eventTime":"2026-11-02T10:04:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateSecurityGroup","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"groupName":"web","groupDescription":"web"},"responseElements":{"_return":true,"groupId":"sg-0123456789abcdef0"},"requestID":"r-6","eventID":"ecs-fields-0006","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
];

/// The `event.id`s of the documents `query` selects, sorted.
async fn ids(stack: &Stack, prefix: &str, query: Value) -> Vec<String> {
    let (status, body) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_search"),
            Some(json!({"size": 100, "query": query})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_source"]["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn term(field: &str, value: &str) -> Value {
    json!({"term": {field: value}})
}

#[tokio::test]
async fn ecs_fields_follow_elastic_rules_and_are_searchable() {
    let stack = Stack::connect().await;
    let prefix = unique("ecs-fields");
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, SAMPLES.join("\n") + "\n").unwrap();
    let dead = dir.path().join("dead.ndjson");
    let url = opensearch_url();
    ok(trailscope(&[
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    // input = indexed (+ dead-lettered, none here)
    assert_eq!(stack.count(&prefix).await, SAMPLES.len() as u64);
    assert!(!dead.exists() || std::fs::read_to_string(&dead).unwrap().is_empty());

    // Failed sign-ins are failures whatever carries the result.
    assert_eq!(
        ids(&stack, &prefix, term("event.outcome", "failure")).await,
        ["ecs-fields-0001", "ecs-fields-0002", "ecs-fields-0003"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("event.category", "authentication")).await,
        ["ecs-fields-0001", "ecs-fields-0002", "ecs-fields-0003"]
    );
    // Classification from the table; a call it does not list: no category, type info.
    assert_eq!(
        ids(&stack, &prefix, term("event.type", "creation")).await,
        ["ecs-fields-0004"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("event.type", "group")).await,
        ["ecs-fields-0005"]
    );
    let uncategorised = json!({"bool": {"must_not": {"exists": {"field": "event.category"}}}});
    assert_eq!(
        ids(&stack, &prefix, uncategorised).await,
        ["ecs-fields-0006"]
    );

    // Who: the role for a session, the session name aside; an Identity Center user by name.
    assert_eq!(
        ids(&stack, &prefix, term("user.name", "Admin")).await,
        ["ecs-fields-0005"]
    );
    assert_eq!(
        ids(
            &stack,
            &prefix,
            term(
                "aws.cloudtrail.user_identity.session_name",
                "alice@example.com"
            )
        )
        .await,
        ["ecs-fields-0005"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("user.email", "carol@example.com")).await,
        ["ecs-fields-0003"]
    );
    assert_eq!(
        ids(
            &stack,
            &prefix,
            term("related.user", "AROAEXAMPLEADMIN:alice@example.com")
        )
        .await,
        ["ecs-fields-0005"]
    );

    // On whom: IAM users and groups only.
    assert_eq!(
        ids(&stack, &prefix, term("user.target.name", "Bob")).await,
        ["ecs-fields-0004", "ecs-fields-0005"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("user.target.id", "AIDAEXAMPLEBOB")).await,
        ["ecs-fields-0004"]
    );
    assert_eq!(
        ids(&stack, &prefix, json!({"exists": {"field": "group.name"}})).await,
        ["ecs-fields-0005"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("related.user", "Bob")).await,
        ["ecs-fields-0004", "ecs-fields-0005"]
    );

    // TLS and the IP, as ECS types (an ip field answers a CIDR query).
    assert_eq!(
        ids(&stack, &prefix, term("tls.version", "1.3")).await,
        ["ecs-fields-0004"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("tls.version_protocol", "tls")).await,
        ["ecs-fields-0004", "ecs-fields-0005"]
    );
    assert_eq!(
        ids(
            &stack,
            &prefix,
            term("tls.client.server_name", "iam.amazonaws.com")
        )
        .await,
        ["ecs-fields-0004", "ecs-fields-0005"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("related.ip", "198.51.100.0/24")).await,
        ["ecs-fields-0004", "ecs-fields-0005", "ecs-fields-0006"]
    );
    assert_eq!(
        ids(&stack, &prefix, term("related.ip", "2001:db8::/32")).await,
        ["ecs-fields-0003"]
    );

    // Nothing unmapped slipped in: every new field above is in the template.
    let (status, mapping) = stack
        .request(Method::Get, &format!("/{prefix}*/_mapping"), None)
        .await;
    assert_eq!(status, 200, "{mapping}");
    let props = &mapping.as_object().unwrap().values().next().unwrap()["mappings"]["properties"];
    for path in [
        "tls.properties.cipher",
        "group.properties.id",
        "user.properties.changes.properties.name",
    ] {
        let mut v = props;
        for p in path.split('.') {
            v = &v[p];
        }
        assert_eq!(v["type"], "keyword", "{path}");
    }
    stack.cleanup(&prefix).await;
}

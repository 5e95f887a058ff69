"""SNS in moto for tests/sqs_forward.rs (the Rust tests have no SNS client):

usage: moto_sns.py ENDPOINT wire QUEUE_URL BUCKET   -> a topic the queue subscribes to (SNS
           envelopes, not raw delivery) and the bucket's ObjectCreated notifications to it;
           prints the topic ARN
       moto_sns.py ENDPOINT publish TOPIC_ARN MESSAGE -> publishes MESSAGE (as CloudTrail does)
"""
import json
import sys

import boto3

endpoint, verb = sys.argv[1:3]
kw = dict(region_name="us-east-1", endpoint_url=endpoint,
          aws_access_key_id="testing", aws_secret_access_key="testing")
sns = boto3.client("sns", **kw)
if verb == "wire":
    queue_url, bucket = sys.argv[3:5]
    sqs = boto3.client("sqs", **kw)
    s3 = boto3.client("s3", **kw)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=bucket)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    print(topic)
elif verb == "publish":
    topic, message = sys.argv[3:5]
    sns.publish(TopicArn=topic, Message=message)
else:
    sys.exit(f"unknown verb {verb}")

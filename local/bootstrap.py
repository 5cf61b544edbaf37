"""Create every table and queue, and the media bucket, in a fresh (in-memory) moto server.

Queues come from the app itself: every ``on_sqs_message`` handler's queue is created,
each with a dead-letter queue (``<name>-dlq``) after 3 failed receives, as on AWS.
"""

from __future__ import annotations

import json
import logging

import boto3

from chalicelib.models.tables import create_all_tables

log = logging.getLogger(__name__)
MAX_RECEIVES = 3


def sqs_queue_names() -> list[str]:
    from chalice.app import SQSEventConfig

    from app import app

    return sorted({s.queue for s in app.event_sources if isinstance(s, SQSEventConfig) and s.queue})


def create_queues(names: list[str]) -> None:
    sqs = boto3.client("sqs")
    for name in names:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"})


# moto's account id and region make these ARNs fixed; the stack passes them to the API.
PLATFORM_ARNS = {"apns": "arn:aws:sns:us-east-1:123456789012:app/APNS_SANDBOX/parlor-apns",
                 "fcm": "arn:aws:sns:us-east-1:123456789012:app/GCM/parlor-fcm"}


def create_platform_applications() -> None:
    """SNS platform applications for push (fake credentials: moto does not call Apple or Google)."""
    sns = boto3.client("sns")
    sns.create_platform_application(Name="parlor-apns", Platform="APNS_SANDBOX",
                                    Attributes={"PlatformCredential": "local", "PlatformPrincipal": "local"})
    sns.create_platform_application(Name="parlor-fcm", Platform="GCM", Attributes={"PlatformCredential": "local"})


# The sender of password-reset emails locally: moto's SES sends only from verified identities.
LOCAL_EMAIL_SENDER = "no-reply@parlor.local"


def verify_email_sender(sender: str = LOCAL_EMAIL_SENDER) -> None:
    """Verify the sender identity in (moto's) SES, as the CDK declares it on AWS."""
    boto3.client("ses").verify_email_identity(EmailAddress=sender)


def create_media_bucket(name: str) -> None:
    """The bucket of HLS streams, recordings and clips (``parlor_contract.hls``), served through
    ``local.cdn``. Only the bucket: moto's objects are not kept across restarts (``local.moto_state``)."""
    boto3.client("s3").create_bucket(Bucket=name)


def main() -> None:
    from chalicelib.settings import get_settings

    created = create_all_tables(wait=True)
    queues = sqs_queue_names()
    create_queues(queues)
    create_platform_applications()
    verify_email_sender()
    if bucket := get_settings().media_bucket:
        create_media_bucket(bucket)
    log.info("created tables and queues", extra={"tables": created, "queues": queues})


if __name__ == "__main__":
    # Imported here: the CDK app imports this module for the queue names, without aiohttp.
    from local import logs

    logs.configure("bootstrap", level=logging.WARNING)  # boto's chatter stays out
    log.setLevel(logging.INFO)
    main()

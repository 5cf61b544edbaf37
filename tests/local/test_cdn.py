"""The local CloudFront stand-in (local.cdn) serves the media bucket only to requests signed as
CloudFront requires, with what the API signs (chalicelib.gateways.cdn.CdnSigner): over HTTP,
against moto's S3; and the local stack runs it beside moto with the bucket and the key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.clock import ManualClock, SystemClock
from chalicelib.gateways.cdn import CdnSigner, SignedAccess
from chalicelib.settings import Settings
from local import cdn, generated_secrets
from local.stack import MEDIA_BUCKET, Ports, Stack, components, free_port, stack_env
from parlor_contract import hls
from tests.servers import ServedApp

BUCKET = "parlor-test-media"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
SPACE, OTHER_SPACE = "01SPACECDN000000000000000A", "01SPACECDN000000000000000B"
PLAYLIST, SEGMENT = hls.live_playlist_key(SPACE), hls.segment_key(SPACE, 7)
LIFETIME = timedelta(minutes=5)


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


PRIVATE_KEY = rsa_pem()


class Cdn:
    def __init__(self, served: ServedApp):
        self.served, self.url = served, served.url

    def signer(self, key_pair_id: str = KEY_PAIR_ID, private_key: str = PRIVATE_KEY,
               clock: ManualClock | SystemClock | None = None) -> CdnSigner:
        return CdnSigner(self.url, key_pair_id, private_key, clock or SystemClock())

    def access(self, space_id: str = SPACE, key: str = PLAYLIST, **signer: object) -> SignedAccess:
        return self.signer(**signer).sign(key, hls.space_prefix(space_id), LIFETIME)  # type: ignore[arg-type]

    def get(self, key: str, query: str = "", method: str = "GET", **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.url}/{key}" + (f"?{query}" if query else ""), timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stand_in(aws: None) -> Iterator[Cdn]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=PLAYLIST, Body=b"#EXTM3U\n", ContentType=hls.PLAYLIST_CONTENT_TYPE,
                  CacheControl=hls.PLAYLIST_CACHE_CONTROL)
    s3.put_object(Bucket=BUCKET, Key=SEGMENT, Body=b"G" * 1880, ContentType=hls.SEGMENT_CONTENT_TYPE,
                  CacheControl=hls.SEGMENT_CACHE_CONTROL)
    s3.put_object(Bucket=BUCKET, Key=hls.live_playlist_key(OTHER_SPACE), Body=b"#EXTM3U\n")
    port = free_port()
    private = serialization.load_pem_private_key(PRIVATE_KEY.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    config = cdn.Config(base_url=f"http://127.0.0.1:{port}", bucket=BUCKET, key_pair_id=KEY_PAIR_ID,
                        public_key=private.public_key())
    served = ServedApp(cdn.create_app(config, s3), port=port)
    yield Cdn(served)
    served.stop()


def error_code(reply: requests.Response) -> str:
    assert reply.status_code == 403 and reply.headers["Content-Type"].startswith("text/xml"), reply.text
    assert reply.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Error><Code>')
    return reply.text.split("<Code>")[1].split("</Code>")[0]


# -- signed access opens a space's objects ---------------------------------------------------------


def test_the_signed_url_gets_the_object_with_its_headers(stand_in: Cdn):
    reply = requests.get(stand_in.access().url, timeout=10)
    assert reply.status_code == 200 and reply.content == b"#EXTM3U\n"
    assert reply.headers["Content-Type"] == hls.PLAYLIST_CONTENT_TYPE
    assert reply.headers["Cache-Control"] == hls.PLAYLIST_CACHE_CONTROL
    assert reply.headers["Content-Length"] == "8" and reply.headers["ETag"].strip('"')


def test_the_query_opens_every_other_object_under_the_space(stand_in: Cdn):
    reply = stand_in.get(SEGMENT, stand_in.access().query)
    assert reply.status_code == 200 and reply.content == b"G" * 1880
    assert reply.headers["Content-Type"] == hls.SEGMENT_CONTENT_TYPE
    assert reply.headers["Cache-Control"] == hls.SEGMENT_CACHE_CONTROL


def test_the_cookies_open_the_space_without_a_query(stand_in: Cdn):
    access = stand_in.access()
    assert stand_in.get(SEGMENT, cookies=access.cookies).status_code == 200
    assert error_code(stand_in.get(SEGMENT)) == "MissingKey"  # the same request without them


def test_a_signed_query_is_checked_before_any_cookies(stand_in: Cdn):
    """As on CloudFront: a request with a signed URL is judged by it, valid cookies or not."""
    access = stand_in.access()
    expired = stand_in.access(clock=ManualClock(datetime.now(UTC) - timedelta(hours=1)))
    assert error_code(stand_in.get(SEGMENT, expired.query, cookies=access.cookies)) == "AccessDenied"


def test_a_request_without_its_signature_is_refused(stand_in: Cdn):
    without = "&".join(p for p in stand_in.access().query.split("&") if not p.startswith("Signature="))
    assert error_code(stand_in.get(PLAYLIST, without)) == "AccessDenied"


def test_head_gives_the_headers_without_the_body(stand_in: Cdn):
    reply = stand_in.get(SEGMENT, stand_in.access().query, method="HEAD")
    assert reply.status_code == 200 and reply.content == b""
    assert reply.headers["Content-Length"] == "1880" and reply.headers["Content-Type"] == hls.SEGMENT_CONTENT_TYPE


def test_a_range_gets_part_of_a_segment(stand_in: Cdn):
    reply = stand_in.get(SEGMENT, stand_in.access().query, headers={"Range": "bytes=0-187"})
    assert reply.status_code == 206 and len(reply.content) == 188
    assert reply.headers["Content-Range"] == "bytes 0-187/1880"


def test_the_url_is_the_configured_one_whatever_the_host_header_says(stand_in: Cdn):
    reply = requests.get(stand_in.access().url, headers={"Host": "cdn.example"}, timeout=10)
    assert reply.status_code == 200


def test_a_missing_object_is_404_for_a_valid_signature(stand_in: Cdn):
    reply = stand_in.get(hls.segment_key(SPACE, 99), stand_in.access().query)
    assert reply.status_code == 404 and "<Code>NoSuchKey</Code>" in reply.text


def test_a_canned_policy_opens_exactly_its_url(stand_in: Cdn):
    signer = CloudFrontSigner(KEY_PAIR_ID, sign_with(PRIVATE_KEY))
    canned = signer.generate_presigned_url(f"{stand_in.url}/{PLAYLIST}", date_less_than=datetime.now(UTC) + LIFETIME)
    assert "Expires=" in canned and "Policy=" not in canned
    assert requests.get(canned, timeout=10).status_code == 200
    assert error_code(stand_in.get(SEGMENT, canned.partition("?")[2])) == "AccessDenied"  # another URL


def sign_with(pem: str):  # type: ignore[no-untyped-def]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1())


# -- and nothing else ------------------------------------------------------------------------------


def test_an_unsigned_request_is_refused_as_cloudfront_refuses_it(stand_in: Cdn):
    reply = stand_in.get(PLAYLIST)
    assert error_code(reply) == "MissingKey"
    assert "<Message>Missing Key-Pair-Id query parameter or cookie value</Message>" in reply.text


def test_an_expired_signature_is_refused(stand_in: Cdn):
    an_hour_ago = ManualClock(datetime.now(UTC) - timedelta(hours=1))
    assert error_code(requests.get(stand_in.access(clock=an_hour_ago).url, timeout=10)) == "AccessDenied"


def test_a_space_s_signature_does_not_open_another_space(stand_in: Cdn):
    assert error_code(stand_in.get(hls.live_playlist_key(OTHER_SPACE), stand_in.access().query)) == "AccessDenied"
    assert stand_in.get(hls.live_playlist_key(OTHER_SPACE), stand_in.access(OTHER_SPACE).query).status_code == 200


def test_a_tampered_signature_is_refused(stand_in: Cdn):
    access = stand_in.access()
    signature = access.cookies["CloudFront-Signature"]
    tampered = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert error_code(stand_in.get(PLAYLIST, access.query.replace(signature, tampered))) == "AccessDenied"


def test_a_policy_widened_after_signing_is_refused(stand_in: Cdn):
    access = stand_in.access()
    other = stand_in.access(OTHER_SPACE)  # a valid policy, but not the one this signature signed
    swapped = access.query.replace(access.cookies["CloudFront-Policy"], other.cookies["CloudFront-Policy"])
    assert error_code(stand_in.get(hls.live_playlist_key(OTHER_SPACE), swapped)) == "AccessDenied"


def test_a_policy_signed_by_another_key_is_refused(stand_in: Cdn):
    assert error_code(requests.get(stand_in.access(private_key=rsa_pem()).url, timeout=10)) == "AccessDenied"


def test_an_unknown_key_pair_id_is_refused(stand_in: Cdn):
    reply = requests.get(stand_in.access(key_pair_id="KOTHERKEYPAIR1").url, timeout=10)
    assert error_code(reply) == "InvalidKey" and "<Message>Unknown Key</Message>" in reply.text


def test_a_malformed_policy_is_refused(stand_in: Cdn):
    access = stand_in.access()
    assert error_code(stand_in.get(PLAYLIST, access.query.replace(access.cookies["CloudFront-Policy"], "bm90IGpzb24_"))) \
        == "MalformedPolicy"


def custom_policy_query(url: str, **conditions: object) -> str:
    signer = CloudFrontSigner(KEY_PAIR_ID, sign_with(PRIVATE_KEY))
    policy = signer.build_policy(url, datetime.now(UTC) + LIFETIME, **conditions)  # type: ignore[arg-type]
    return signer.generate_presigned_url(url, policy=policy)[len(url) + 1:]  # after its "?" (or "&")


def test_a_policy_not_yet_valid_is_refused(stand_in: Cdn):
    later = custom_policy_query(f"{stand_in.url}/{PLAYLIST}", date_greater_than=datetime.now(UTC) + timedelta(minutes=1))
    assert error_code(stand_in.get(PLAYLIST, later)) == "AccessDenied"
    now = custom_policy_query(f"{stand_in.url}/{PLAYLIST}", date_greater_than=datetime.now(UTC) - timedelta(minutes=1))
    assert stand_in.get(PLAYLIST, now).status_code == 200


def test_a_policy_for_other_addresses_is_refused(stand_in: Cdn):
    elsewhere = custom_policy_query(f"{stand_in.url}/{PLAYLIST}", ip_address="192.0.2.0/24")
    assert error_code(stand_in.get(PLAYLIST, elsewhere)) == "AccessDenied"
    here = custom_policy_query(f"{stand_in.url}/{PLAYLIST}", ip_address="127.0.0.0/8")
    assert stand_in.get(PLAYLIST, here).status_code == 200


def test_question_mark_in_a_resource_matches_one_character(stand_in: Cdn):
    one = custom_policy_query(f"{stand_in.url}/{hls.hls_prefix(SPACE)}0000000?.ts")
    assert stand_in.get(SEGMENT, one).status_code == 200
    assert error_code(stand_in.get(PLAYLIST, one)) == "AccessDenied"
    assert cdn.resource_matches("https://c/a?c", "https://c/abc") and not cdn.resource_matches("https://c/a?c", "https://c/abbc")
    assert cdn.resource_matches("https://c/s/*", "https://c/s/x/y.ts") and not cdn.resource_matches("https://c/s/*", "https://c/t/x")


def test_only_get_head_and_options_are_served(stand_in: Cdn):
    for method in ("POST", "PUT", "DELETE"):
        reply = stand_in.get(PLAYLIST, stand_in.access().query, method=method)
        assert reply.status_code == 403, method


# -- browsers --------------------------------------------------------------------------------------


def test_a_page_of_any_origin_may_read_the_stream(stand_in: Cdn):
    reply = stand_in.get(PLAYLIST, stand_in.access().query, headers={"Origin": "https://web.example"})
    assert reply.status_code == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"
    refused = stand_in.get(PLAYLIST, headers={"Origin": "https://web.example"})
    assert refused.status_code == 403 and refused.headers["Access-Control-Allow-Origin"] == "*"  # a player can say why
    preflight = stand_in.get(PLAYLIST, method="OPTIONS", headers={"Origin": "https://web.example",
                                                                   "Access-Control-Request-Method": "GET",
                                                                   "Access-Control-Request-Headers": "range"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"] and preflight.headers["Access-Control-Allow-Headers"] == "range"


# -- the local stack -------------------------------------------------------------------------------


def test_the_stack_runs_the_cdn_with_the_bucket_and_the_signing_key(tmp_path: Path):
    ports = Ports(cdn=18003)
    (cdn_component,) = [c for c in components(ports) if c.name == "cdn"]
    assert cdn_component.argv[1:] == ["-m", "local.cdn", "--port", "18003"]
    assert cdn_component.ready_url == f"http://127.0.0.1:18003{cdn.HEALTH_PATH}" and cdn_component.port == 18003
    assert Ports.from_env({"PARLOR_CDN_PORT": "18004"}).cdn == 18004 and cdn_component.port_env == "PARLOR_CDN_PORT"
    free = Ports.free()
    assert free.cdn not in (free.api, free.ws, free.moto, free.stripe, free.turn)

    secrets = generated_secrets.load_or_create(tmp_path)
    env = stack_env(ports, {}, secrets)
    assert env[Settings.env_name("media_bucket")] == MEDIA_BUCKET
    assert env[Settings.env_name("cdn_url")] == "http://127.0.0.1:18003"
    assert env[Settings.env_name("cdn_key_pair_id")] == secrets["cdn_key_pair_id"]
    assert env[Settings.env_name("cdn_private_key")] == secrets["cdn_private_key"]
    assert stack_env(ports, {"PARLOR_MEDIA_BUCKET": "mine"}, secrets)["PARLOR_MEDIA_BUCKET"] == "mine"


def test_the_stack_s_cdn_serves_what_the_api_signs_from_moto_s_bucket(tmp_path: Path):
    """moto and the stand-in as ``make run`` starts them: bootstrap makes the bucket."""
    stack = Stack(Ports.free(), env={}, log_dir=tmp_path)
    stack.components = [c for c in stack.components if c.name in ("moto", "cdn")]
    stack.start()
    try:
        env = stack.env
        s3 = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                   region_name=env["AWS_DEFAULT_REGION"]).client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
        s3.put_object(Bucket=env["PARLOR_MEDIA_BUCKET"], Key=PLAYLIST, Body=b"#EXTM3U\n",
                      ContentType=hls.PLAYLIST_CONTENT_TYPE, CacheControl=hls.PLAYLIST_CACHE_CONTROL)
        signer = CdnSigner(env["PARLOR_CDN_URL"], env["PARLOR_CDN_KEY_PAIR_ID"], env["PARLOR_CDN_PRIVATE_KEY"], SystemClock())
        access = signer.sign(PLAYLIST, hls.space_prefix(SPACE), LIFETIME)
        reply = requests.get(access.url, timeout=10)
        assert (reply.status_code, reply.content, reply.headers["Cache-Control"]) == (200, b"#EXTM3U\n", hls.PLAYLIST_CACHE_CONTROL)
        assert requests.get(signer.url(PLAYLIST), timeout=10).status_code == 403
        health = requests.get(env["PARLOR_CDN_URL"] + cdn.HEALTH_PATH, timeout=10).json()
        assert health == {"ok": True, "bucket": MEDIA_BUCKET}
    finally:
        stack.stop()
    assert json.loads((tmp_path / "state" / generated_secrets.FILE).read_text())["cdn_key_pair_id"].startswith("K")

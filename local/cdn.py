"""``python -m local.cdn``: the local stand-in for CloudFront in front of the media bucket.

It serves ``GET``/``HEAD /{key}`` from the bucket (moto's S3, ``PARLOR_MEDIA_BUCKET``) with the
object's Content-Type, Cache-Control, Content-Length and ETag, and only to requests signed as
CloudFront's trusted key groups require (``chalicelib.gateways.cdn`` signs them):

- the signature as query parameters (``Policy``, ``Signature``, ``Key-Pair-Id`` for a custom
  policy; ``Expires`` instead of ``Policy`` for a canned one) or, without them, as cookies
  (``CloudFront-Policy`` / ``CloudFront-Expires``, ``CloudFront-Signature``, ``CloudFront-Key-Pair-Id``);
- the key pair id is the configured one (``PARLOR_CDN_KEY_PAIR_ID``), the RSA-SHA1 signature
  verifies with the public half of ``PARLOR_CDN_PRIVATE_KEY`` (the stand-in gets the stack's
  environment like every process; on AWS the key group holds only the public key);
- the policy's ``DateLessThan`` is in the future, ``DateGreaterThan`` past and ``IpAddress``
  the client's, when given; its ``Resource`` (``*`` any run of characters, ``?`` one) matches the
  request's URL without the signing parameters, as reached at ``PARLOR_CDN_URL`` (not the Host header).

Refusals are CloudFront's: 403 with its XML error body. Browsers of any origin may read the
answers (``Access-Control-Allow-Origin: *``, as the CDK's response headers policy adds to requests
that carry an Origin): a page on another origin sends no cookies, so it uses the query form.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from aiohttp import web
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local import logs

log = logging.getLogger("local.cdn")
HEALTH_PATH = "/_parlor/health"  # local.stack waits for it
SIGNING_PARAMS = ("Policy", "Expires", "Signature", "Key-Pair-Id")
# The object's headers passed on, by the lower-case name botocore gives them.
PASSED_HEADERS = {name.lower(): name for name in ("Content-Type", "Cache-Control", "Content-Length", "ETag",
                                                  "Last-Modified", "Content-Range", "Accept-Ranges")}


@dataclass(frozen=True)
class Config:
    base_url: str  # where clients reach the stand-in: the scheme://host:port signed policies name
    bucket: str
    key_pair_id: str
    public_key: rsa.RSAPublicKey
    now: Callable[[], float] = field(default=time.time)


class Refused(Exception):
    def __init__(self, code: str = "AccessDenied", message: str = "Access denied"):
        super().__init__(message)
        self.code, self.message = code, message


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64: ``-``, ``_``, ``~`` stand for ``+``, ``=``, ``/``."""
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


def resource_matches(pattern: str, url: str) -> bool:
    """A policy's Resource: ``*`` matches any run of characters (``/`` too), ``?`` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, url, flags=re.DOTALL) is not None


def canned_policy(url: str, expires: int) -> str:
    """The policy a canned signature signs, spelled as CloudFront (and botocore) spell it."""
    return json.dumps({"Statement": [{"Resource": url, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
                      separators=(",", ":"))


def signed_parts(request: web.Request) -> dict[str, str]:
    """The signature's parts, by query parameter name, from the query or else the cookies (a
    signed URL wins over signed cookies, as on CloudFront)."""
    query = {name: request.query[name] for name in SIGNING_PARAMS if name in request.query}
    if query:
        return query
    return {name: request.cookies[f"CloudFront-{name}"] for name in SIGNING_PARAMS if f"CloudFront-{name}" in request.cookies}


def check_access(config: Config, request: web.Request) -> None:
    """Raise ``Refused`` unless the request carries a valid signature for its URL, now, from its address."""
    parts = signed_parts(request)
    if not parts.get("Key-Pair-Id"):
        raise Refused("MissingKey", "Missing Key-Pair-Id query parameter or cookie value")
    if parts["Key-Pair-Id"] != config.key_pair_id:
        raise Refused("InvalidKey", "Unknown Key")
    # As the client spelled it (undecoded), less the signing parameters.
    others = [p for p in request.rel_url.raw_query_string.split("&") if p and p.split("=", 1)[0] not in SIGNING_PARAMS]
    url = config.base_url + request.rel_url.raw_path + ("?" + "&".join(others) if others else "")
    try:
        if "Policy" in parts:
            policy_text = cloudfront_b64decode(parts["Policy"]).decode()
        elif "Expires" in parts:
            policy_text = canned_policy(url, int(parts["Expires"]))
        else:
            raise Refused()
        policy = json.loads(policy_text)
        (statement,) = policy["Statement"]  # CloudFront takes exactly one statement
        resource, conditions = statement.get("Resource", "*"), statement["Condition"]
        not_after = int(conditions["DateLessThan"]["AWS:EpochTime"])
        not_before = int(conditions.get("DateGreaterThan", {}).get("AWS:EpochTime", 0))
        source = conditions.get("IpAddress", {}).get("AWS:SourceIp")
        network = ipaddress.ip_network(source, strict=False) if source else None
        signature = cloudfront_b64decode(parts.get("Signature", ""))
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as malformed:
        raise Refused("MalformedPolicy", "Malformed Policy") from malformed
    try:
        config.public_key.verify(signature, policy_text.encode(), padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature as forged:
        raise Refused() from forged
    now = config.now()
    if not now < not_after or now < not_before or not resource_matches(resource, url):
        raise Refused()
    if network is not None and ipaddress.ip_address(request.remote or "0.0.0.0") not in network:
        raise Refused()


def error_response(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(status=status, text=body, content_type="text/xml")


@web.middleware
async def cors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if "Origin" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, ETag"
    return response


def create_app(config: Config, s3: Any) -> web.Application:
    """``s3`` is a boto3 S3 client (thread-safe: each fetch runs in a thread)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":  # a CORS preflight: CloudFront answers it from the response headers policy
            return web.Response(status=204, headers={
                "Access-Control-Allow-Methods": "GET, HEAD",
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "Range"),
                "Access-Control-Max-Age": "600"})
        if request.method not in ("GET", "HEAD"):
            return error_response(403, "MethodNotAllowed", "This distribution only serves GET, HEAD and OPTIONS requests")
        try:
            check_access(config, request)
        except Refused as refused:
            log.info("refused", extra={"path": request.path, "code": refused.code})
            return error_response(403, refused.code, refused.message)
        key = request.match_info["key"]
        args: dict[str, str] = {"Bucket": config.bucket, "Key": key}
        if "Range" in request.headers:
            args["Range"] = request.headers["Range"]
        try:
            found = await asyncio.to_thread(s3.head_object if request.method == "HEAD" else s3.get_object, **args)
        except ClientError as missing:
            status = int(missing.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            if status in (403, 404):  # CloudFront passes the origin's answer on
                return error_response(404, "NoSuchKey", "The specified key does not exist.")
            raise
        headers = {PASSED_HEADERS[name]: str(value) for name, value in found["ResponseMetadata"]["HTTPHeaders"].items()
                   if name in PASSED_HEADERS}
        status = 206 if "Range" in args and "ContentRange" in found else 200
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        body = await asyncio.to_thread(found["Body"].read)
        headers.pop("Content-Length", None)  # aiohttp sets it from the body
        return web.Response(status=status, body=body, headers=headers)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "bucket": config.bucket})

    app = web.Application(middlewares=[cors])
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_route("*", "/{key:.+}", serve)
    return app


def config_from_env(env: Mapping[str, str]) -> Config:
    from chalicelib.settings import Settings

    def setting(name: str) -> str:
        value = env.get(Settings.env_name(name), "")
        if not value:
            raise SystemExit(f"local.cdn needs {Settings.env_name(name)}")
        return value

    private_key = serialization.load_pem_private_key(setting("cdn_private_key").encode(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SystemExit(f"{Settings.env_name('cdn_private_key')} is not an RSA private key")
    return Config(base_url=setting("cdn_url").rstrip("/"), bucket=setting("media_bucket"),
                  key_pair_id=setting("cdn_key_pair_id"), public_key=private_key.public_key())


def main() -> None:
    import boto3

    parser = argparse.ArgumentParser(description="Local stand-in for CloudFront in front of the media bucket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    args = parser.parse_args()
    logs.configure("cdn")
    config = config_from_env(os.environ)
    s3 = boto3.session.Session().client("s3")  # AWS_ENDPOINT_URL: moto
    web.run_app(create_app(config, s3), host=args.host, port=args.port, print=None, access_log_class=logs.AccessLog)


if __name__ == "__main__":
    main()

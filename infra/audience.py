"""The audience tier on AWS (issue 17): the media bucket the workers write each room's HLS
stream to, and the CloudFront distribution listeners beyond the WebRTC cap fetch it from.

- The bucket is private (public access blocked, ACLs off, TLS only, S3-managed encryption);
  CloudFront alone reads it, through Origin Access Control. Objects expire by their
  ``parlor-retention`` tag (``parlor_contract.hls``): a recording's after 30 days, a live-only
  stream's after 1 (S3's shortest; the worker deletes it at the end anyway).
- Every behaviour trusts one key group: nothing is served without a CloudFront signature
  (a signed URL or signed cookies with a custom policy on ``spaces/{id}/*``), made by the API
  with the private half of the key pair (``make cdn-keys``), which it reads from its secret.
- Segments never change once written: cached for a year. Playlists change every segment:
  cached for 1 s at most. Neither cache key holds query strings, cookies or headers, so the
  signature parameters (checked by CloudFront before its cache) do not split the cache.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct, Node
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parlor_contract.hls import LIVE_ONLY_DAYS, RECORDING_DAYS, RETENTION_TAG, SPACES_PREFIX, Retention

PUBLIC_KEY_CONTEXT = "cdnPublicKey"  # the PEM itself
PUBLIC_KEY_FILE_CONTEXT = "cdnPublicKeyFile"  # or a file holding it (relative: to the working directory)
KEY_BITS = 2048  # what CloudFront takes for an RSA public key
PLAYLIST_PATTERN = "*.m3u8"
SEGMENT_TTL = cdk.Duration.days(365)  # parlor_contract.hls.SEGMENT_CACHE_CONTROL: immutable
PLAYLIST_TTL = cdk.Duration.seconds(1)  # parlor_contract.hls.PLAYLIST_CACHE_CONTROL
# How long CloudFront caches a 403/404 (a playlist asked for before the worker wrote it):
# CloudFront's default is 10 s, a live stream's start would wait that long.
ERROR_TTL = cdk.Duration.seconds(1)


class CdnKeyError(ValueError):
    """No usable CloudFront public key was given: the message says how to give one."""


def cdn_public_key(node: Node) -> str:
    """The PEM of the public key CloudFront checks signatures with, from context
    ``cdnPublicKey`` (the PEM) or ``cdnPublicKeyFile`` (a file holding it). Refused: none, a
    private key (it would be published in the template), anything but an RSA 2048 public key."""
    pem = node.try_get_context(PUBLIC_KEY_CONTEXT) or ""
    source = f"context {PUBLIC_KEY_CONTEXT}"
    if not pem and (file := node.try_get_context(PUBLIC_KEY_FILE_CONTEXT)):
        path = Path(file).expanduser()
        source = f"{path} (context {PUBLIC_KEY_FILE_CONTEXT})"
        if not path.is_file():
            raise CdnKeyError(f"No CloudFront public key at {source}: `make cdn-keys` generates the key pair")
        pem = path.read_text()
    if not pem:
        raise CdnKeyError(f"No CloudFront public key: give its PEM with `-c {PUBLIC_KEY_FILE_CONTEXT}=<file>` or "
                          f"`-c {PUBLIC_KEY_CONTEXT}=<PEM>`; `make cdn-keys` generates the key pair")
    if "PRIVATE KEY" in pem:
        raise CdnKeyError(f"{source} holds a private key: give the public one (it goes into the template)")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as error:
        raise CdnKeyError(f"{source} is not a PEM public key ({error})") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != KEY_BITS:
        raise CdnKeyError(f"{source} is not an RSA {KEY_BITS} public key, which CloudFront requires")
    return pem.strip() + "\n"


class AudienceTier(Construct):
    """The media bucket and the signed-access distribution in front of it. ``url`` and
    ``key_pair_id`` are what the API signs with; ``bucket`` is where workers write."""

    def __init__(self, scope: Construct, construct_id: str, *, public_key_pem: str):
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self, "MediaBucket", block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True, removal_policy=cdk.RemovalPolicy.RETAIN,  # recordings outlive a stack
            lifecycle_rules=[
                s3.LifecycleRule(id="recordings", tag_filters={RETENTION_TAG: Retention.RECORDING.value},
                                 expiration=cdk.Duration.days(RECORDING_DAYS)),
                s3.LifecycleRule(id="live-only", tag_filters={RETENTION_TAG: Retention.LIVE.value},
                                 expiration=cdk.Duration.days(LIVE_ONLY_DAYS)),
                # Its own rule: S3 takes no tag filter beside an abort-multipart action.
                s3.LifecycleRule(id="incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)),
            ])
        self.public_key = cloudfront.PublicKey(self, "PublicKey", encoded_key=public_key_pem,
                                               comment="Parlor: checks the API's signed HLS access (make cdn-keys)")
        key_group = cloudfront.KeyGroup(self, "KeyGroup", items=[self.public_key],
                                        comment="Parlor: the API signs access to spaces/{id}/*")
        no_key_parts = {"query_string_behavior": cloudfront.CacheQueryStringBehavior.none(),
                        "cookie_behavior": cloudfront.CacheCookieBehavior.none(),
                        "header_behavior": cloudfront.CacheHeaderBehavior.none()}
        segments = cloudfront.CachePolicy(self, "SegmentCache", comment="HLS segments and clips: immutable once written",
                                          min_ttl=cdk.Duration.seconds(0), default_ttl=SEGMENT_TTL, max_ttl=SEGMENT_TTL,
                                          **no_key_parts)
        playlists = cloudfront.CachePolicy(self, "PlaylistCache", comment="HLS playlists: a live one changes every segment",
                                           min_ttl=cdk.Duration.seconds(0), default_ttl=PLAYLIST_TTL, max_ttl=PLAYLIST_TTL,
                                           **no_key_parts)
        # Any origin: access is the signature in the URL, not the page's origin, and no
        # credentials (cookies) are sent cross-origin, so "*" gives a page nothing it could
        # not already fetch. The API's own CORS list is empty by default, which would leave
        # hls.js in every browser unable to play.
        cors = cloudfront.ResponseHeadersPolicy(
            self, "Cors", comment="hls.js in a browser reads the stream from any origin",
            cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
                access_control_allow_origins=["*"], access_control_allow_methods=["GET", "HEAD"],
                access_control_allow_headers=["*"], access_control_allow_credentials=False,
                access_control_expose_headers=["Content-Length", "Content-Type"],
                access_control_max_age=cdk.Duration.days(1), origin_override=True))
        origin = origins.S3BucketOrigin.with_origin_access_control(self.bucket)

        def behavior(cache_policy: cloudfront.ICachePolicy) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin, viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD, cache_policy=cache_policy,
                response_headers_policy=cors, trusted_key_groups=[key_group])

        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="Parlor audience tier: HLS of live spaces and their recordings",
            default_behavior=behavior(segments), additional_behaviors={PLAYLIST_PATTERN: behavior(playlists)},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            error_responses=[cloudfront.ErrorResponse(http_status=status, ttl=ERROR_TTL) for status in (403, 404)])
        self.url = f"https://{self.distribution.distribution_domain_name}"
        self.key_pair_id = self.public_key.public_key_id
        self.objects_arn = self.bucket.arn_for_objects(f"{SPACES_PREFIX}*")

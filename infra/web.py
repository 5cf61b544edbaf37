"""The web client on AWS (issue 18): ``web/`` in a private S3 bucket behind its own CloudFront
distribution, with a ``config.json`` naming the API written at deploy time.

Its own bucket and distribution rather than a behaviour on the audience tier's
(``infra/audience.py``): every behaviour there trusts a key group (nothing is served without
the API's signature) and caches by rules made for HLS, while the page is public, has a root
object and changes on every deploy. Keeping them apart keeps the signed-media distribution's
rules simple and lets the page's origin (the one the API allows for CORS) be its own.

- The files are deployed as they are in the repository (no build step) plus hls.js, which
  ``make web`` copies from npm (pinned by ``web/package-lock.json``) into ``web/vendor/``:
  synthesis refuses to ship a page without it.
- ``Cache-Control: no-cache`` on every file: module names carry no hash, so browsers
  revalidate, and CloudFront (minimum TTL 0) passes each request to S3 rather than caching:
  a deployment shows at once, never half old and half new, with no invalidation (whose
  permission CDK grants on every distribution). The page is small; S3 answers 304s.
- A content security policy (``parlor_contract.web``, which ``local.web`` serves too) allows
  scripts from the page's origin only and connections to the API, its socket and the media CDN.
- ``/s/*``, a space's public share page, is the API's (it renders the page from the space, for
  crawlers that run no script): a behaviour sends it to the REST API's stage, cached as the
  API says (a minute), without query strings, cookies or the viewer's headers in the key or
  the request (API Gateway answers only to its own Host). ``local.web`` does the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from parlor_contract.web import content_security_policy

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
VENDORED = ("vendor/hls.min.js",)
SHARE_PAGES = "/s/*"  # chalicelib/api/share.py  # what `make web` puts in web/vendor/
# What the page does not need (the asset is web/ as it is on disk).
EXCLUDED = ["node_modules", "package.json", "package-lock.json", "config.json", "config.example.json", "*.md"]


class WebBuildMissing(RuntimeError):
    """web/vendor/ is not there: `make web` makes it."""


class WebClient(Construct):
    """The web client's bucket, distribution and deployment. ``url`` is the page's origin."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Mapping[str, str], connect_origins: list[str],
                 media_origins: list[str], api_domain: str | None = None, api_stage_path: str = "",
                 web_dir: Path = WEB_DIR):
        super().__init__(scope, construct_id)
        missing = [name for name in VENDORED if not (web_dir / name).is_file()]
        if missing:
            raise WebBuildMissing(f"{', '.join(missing)} missing in {web_dir}: run `make web` first")
        self.bucket = s3.Bucket(
            self, "Bucket", block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True)
        headers = cloudfront.ResponseHeadersPolicy(
            self, "Headers", comment="Parlor web client: security headers and its content security policy",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(connect_origins, media_origins), override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(365), include_subdomains=True, override=True)))
        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="Parlor web client", default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy(
                    self, "Cache", comment="Parlor web client: as its files say (no-cache), compressed",
                    min_ttl=cdk.Duration.seconds(0), default_ttl=cdk.Duration.seconds(0), max_ttl=cdk.Duration.days(1),
                    enable_accept_encoding_gzip=True, enable_accept_encoding_brotli=True),
                response_headers_policy=headers),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3)
        if api_domain is not None:
            self.distribution.add_behavior(
                SHARE_PAGES, origins.HttpOrigin(api_domain, origin_path=api_stage_path,
                                                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy(
                    self, "ShareCache", comment="Parlor share pages: as the API says (a minute), nothing in the key",
                    min_ttl=cdk.Duration.seconds(0), default_ttl=cdk.Duration.seconds(0),
                    max_ttl=cdk.Duration.minutes(5), query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
                    header_behavior=cloudfront.CacheHeaderBehavior.none(),
                    cookie_behavior=cloudfront.CacheCookieBehavior.none(), enable_accept_encoding_gzip=True),
                response_headers_policy=headers)
        self.deployment = s3deploy.BucketDeployment(
            self, "Deployment", destination_bucket=self.bucket,
            sources=[s3deploy.Source.asset(str(web_dir), exclude=EXCLUDED),
                     s3deploy.Source.json_data("config.json", dict(config))],
            cache_control=[s3deploy.CacheControl.no_cache()], memory_limit=256)
        _depend_on_policy_only(self.deployment)
        self.url = f"https://{self.distribution.distribution_domain_name}"


def _depend_on_policy_only(deployment: s3deploy.BucketDeployment) -> None:
    """The deployment's (stack-wide) handler depends on its role, which it already references
    (cfn-lint W3005): keep the dependency on the role's policy alone."""
    stack = cdk.Stack.of(deployment)
    handler = next(child for child in stack.node.children if child.node.id.startswith("Custom::CDKBucketDeployment"))
    function = handler.node.default_child
    policy = deployment.handler_role.node.try_find_child("DefaultPolicy")
    assert isinstance(function, cdk.CfnResource) and policy is not None
    policy_resource = policy.node.default_child
    assert isinstance(policy_resource, cdk.CfnResource)
    function.add_override("DependsOn", [stack.get_logical_id(policy_resource)])

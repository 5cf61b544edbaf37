"""The AWS CDK app: ``python infra/app.py`` (``make synth``) writes CloudFormation offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts infra/ first on the path, where this file would shadow the
# Chalice app's own app.py: import from the repository root instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

STAGE = os.environ.get("PARLOR_STAGE", "prod")
# Packaging builds the Chalice app from this environment's settings (they name its queues),
# and the tables are named from them too: name both for this stage.
os.environ.setdefault("PARLOR_TABLE_PREFIX", f"parlor-{STAGE}")
# `chalice package` builds a boto3 session; synthesis itself never calls AWS.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import aws_cdk as cdk  # noqa: E402

from infra.parlor_stack import ParlorStack  # noqa: E402


def build(outdir: str | None = None, context: dict[str, str] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir or os.environ.get("CDK_OUTDIR", str(Path(__file__).parent / "cdk.out")), context=context)
    ParlorStack(app, f"Parlor-{STAGE}", stage=STAGE,
                apns_arn=app.node.try_get_context("apns_platform_arn") or "",
                fcm_arn=app.node.try_get_context("fcm_platform_arn") or "",
                # The sender of password-reset emails (an address or a domain you own): `cdk deploy -c email_sender=...`.
                email_sender=app.node.try_get_context("email_sender") or "")
    return app


if __name__ == "__main__":
    from infra.audience import CdnKeyError

    try:
        build().synth()
    except CdnKeyError as error:  # a deployer's mistake, not a bug: the message, without a traceback
        sys.exit(f"Parlor: {error}")

"""How each runtime gets the contract: the Lambda package through vendor/, the worker's image
through a build context (the repository root) that admits only the worker and the contract.
``tests/infra`` checks the synthesized artifacts themselves."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lambda_package_carries_the_contract():
    """Chalice packages app.py, chalicelib/ and the contents of vendor/ (following links)."""
    link = ROOT / "vendor" / "parlor_contract"
    assert link.is_symlink() and link.resolve() == (ROOT / "parlor_contract").resolve()


def test_the_worker_image_carries_the_worker_and_the_contract_only():
    ignore = [line for line in (ROOT / ".dockerignore").read_text().split("\n") if line and not line.startswith("#")]
    assert ignore[0] == "*" and {"!media_worker/", "!parlor_contract/"} <= set(ignore)
    assert not (ROOT / "media_worker" / ".dockerignore").exists()  # the context is the root
    dockerfile = (ROOT / "media_worker" / "Dockerfile").read_text()
    assert "COPY parlor_contract /app/parlor_contract" in dockerfile and "COPY media_worker /app/media_worker" in dockerfile

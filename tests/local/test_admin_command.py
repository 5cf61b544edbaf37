"""``python -m chalicelib.admin`` as an operator runs it: a program of its own, pointed at a
moto server by ``AWS_ENDPOINT_URL`` and at a stage's tables by ``PARLOR_TABLE_PREFIX``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from local.stack import ROOT, Ports, wait_until_ready
from local.stack import Component as StackComponent

SETUP = """
from datetime import UTC, datetime
from chalicelib.models.tables import create_all_tables
from chalicelib.models.users import HandleModel, UserModel
create_all_tables(wait=False)
UserModel(user_id="u1", handle="Ada", display_name="Ada", password_hash="x", created_at=datetime.now(UTC)).save()
HandleModel(handle_key="ada", user_id="u1").save()
"""
READ = """
from chalicelib.models.reports import StaffActionModel
from chalicelib.models.users import UserModel
print(bool(UserModel.get("u1").staff), [e.action for e in StaffActionModel.query("staff")])
"""


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_admin_command_grants_and_revokes_staff_on_the_configured_tables(tmp_path: Path) -> None:
    ports = Ports.free()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARLOR_"))},
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports.moto}", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "PARLOR_TABLE_PREFIX": "parlor-admin"}
    with open(tmp_path / "moto.log", "ab") as log:
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(ports.moto)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(StackComponent("moto", [], ready_url=f"http://127.0.0.1:{ports.moto}/moto-api/", process=moto), 60)
        assert _python(env, "-c", SETUP).returncode == 0
        granted = _python(env, "-m", "chalicelib.admin", "grant-staff", "ada")
        assert granted.returncode == 0, granted.stderr
        assert "Ada (u1) is now staff" in granted.stdout
        assert _python(env, "-c", READ).stdout.strip() == "True ['staff.granted']"
        assert _python(env, "-m", "chalicelib.admin", "revoke-staff", "ADA").returncode == 0
        assert _python(env, "-c", READ).stdout.strip() == "False ['staff.granted', 'staff.revoked']"
        unknown = _python(env, "-m", "chalicelib.admin", "grant-staff", "nobody")
        assert unknown.returncode == 1 and "no account has the handle 'nobody'" in unknown.stderr
        other_stage = _python({**env, "PARLOR_TABLE_PREFIX": "parlor-elsewhere"}, "-m", "chalicelib.admin",
                              "grant-staff", "ada")
        assert other_stage.returncode != 0  # another stage's tables: not these
    finally:
        moto.terminate()
        moto.wait(10)

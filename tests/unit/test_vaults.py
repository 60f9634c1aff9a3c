"""The real fleet's vaults are committed, every value encrypted under the vault id `prod`,
and opened with the password bin/prod-vault-password supplies (never from the repository).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from fleet.inventory import Inventory
from fleet.ops.core import vault_args
from fleet.paths import ROOT, VENV_BIN

REAL = ("hst", "jwst")
HEADER = "$ANSIBLE_VAULT;1.2;AES256;prod"


class Vaulted(str):
    pass


class VaultLoader(yaml.SafeLoader):
    pass


VaultLoader.add_constructor("!vault", lambda loader, node: Vaulted(loader.construct_scalar(node)))


def leaves(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    else:
        yield path, value


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("obs", REAL)
def test_the_real_vault_is_committed_with_every_value_encrypted(obs):
    rel = f"inventories/{obs}/group_vars/all/vault.yml"
    assert git("ls-files", "--error-unmatch", rel).returncode == 0, f"{rel} is not committed"
    assert git("check-ignore", "-q", rel).returncode == 1, f"{rel} is ignored by git"
    data = yaml.load((ROOT / rel).read_text(), Loader=VaultLoader)  # noqa: S506 - SafeLoader
    plain = [p for p, v in leaves(data) if not (isinstance(v, Vaulted) and v.startswith(HEADER))]
    assert not plain, f"{rel}: not encrypted under the vault id prod: {plain}"
    servers = {h.hostname for h in Inventory(obs).servers()}
    assert set(data["vault_crds_secrets"]) == servers
    for secrets in data["vault_crds_secrets"].values():
        assert set(secrets) == {"db_password", "secret_key"}
    # The plain-text template names the same secrets, with no value that looks real.
    example = yaml.safe_load((ROOT / rel).with_suffix(".yml.example").read_text())
    assert [p for p, _ in leaves(example)] == [p for p, _ in leaves(data)]


def test_every_committed_vault_file_is_encrypted():
    tracked = git("ls-files", "*vault.yml", "*vault*.yml").stdout.split()
    assert tracked, "no vault committed"
    for rel in tracked:
        text = (ROOT / rel).read_text()
        data = yaml.load(text, Loader=VaultLoader)  # noqa: S506 - SafeLoader
        plain = [p for p, v in leaves(data) if not isinstance(v, Vaulted)]
        assert text.startswith("$ANSIBLE_VAULT") or not plain, f"{rel}: plain {plain}"


def test_the_lab_vault_stays_local():
    rel = "inventories/lab/group_vars/all/vault.yml"
    assert git("check-ignore", "-q", rel).returncode == 0


def test_tasks_pass_the_prod_vault_id_for_the_real_fleet_only():
    assert vault_args("hst") == ["--vault-id", f"prod@{ROOT / 'bin' / 'prod-vault-password'}"]
    assert vault_args("hst,jwst")[0] == "--vault-id"
    assert vault_args("lab") == []


def encrypt(value: str, password_file) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "encrypt_string", "--vault-id",
         f"prod@{password_file}", "--encrypt-vault-id", "prod", "--stdin-name", "x"],
        input=value, capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout.split("x: ", 1)[1]


def test_the_password_file_opens_the_values_and_a_wrong_one_does_not(tmp_path):
    secret = "s3cret-for-the-test-only"
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text("right horse battery\n")
    wrong.write_text("wrong horse battery\n")
    for f in (good, wrong):
        f.chmod(0o600)
    inv = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories" / "hst", inv)
    vault = inv / "group_vars" / "all" / "vault.yml"
    vault.write_text("---\nvault_crds_db_host: " + encrypt(secret, good))

    def show(password_file):
        env = {**os.environ, "CRDS_PROD_VAULT_PASSWORD_FILE": str(password_file)}
        return subprocess.run(
            [str(VENV_BIN / "ansible"), "-i", str(inv), "plhstcrds", "-c", "local",
             "-m", "ansible.builtin.debug", "-a", "var=vault_crds_db_host",
             *vault_args(str(inv))],
            capture_output=True, text=True, check=False, cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, start_new_session=True)

    opened = show(good)
    assert opened.returncode == 0 and secret in opened.stdout, opened.stdout + opened.stderr
    refused = show(wrong)
    assert refused.returncode != 0 and secret not in refused.stdout + refused.stderr
    assert "Decryption failed" in refused.stdout + refused.stderr
    # A password file others can read is refused by name, before any use.
    good.chmod(0o644)
    loose = show(good)
    assert loose.returncode != 0 and f"chmod 0600 {good}" in loose.stderr, loose.stderr
    # No file and no terminal: says where the password goes.
    missing = show(tmp_path / "absent")
    assert missing.returncode != 0
    assert "no password for the real fleet's vault" in missing.stderr, missing.stderr

"""The site config: strict schema, clear errors, and a clean `check --deploy` for Apache uses."""

from __future__ import annotations

import pytest
from crds_server import site_config

from fleet.django_server import manage, write_site_config

EXAMPLE = site_config.Path(__file__).resolve().parents[2] / "app" / "site_config.example.toml"


def test_example_parses():
    cfg = site_config.load(EXAMPLE)
    assert cfg.observatory == "hst" and cfg.behind_apache
    assert cfg.database["engine"] == "mysql" and cfg.cache["backend"] == "memcached"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('observatory = "hst"', 'observatory = "roman"'), "use one of hst, jwst"),
    (lambda t: t.replace('use = "test"', ""), "missing required key 'use'"),
    (lambda t: t.replace("debug = false", 'debug = "no"'), "'debug' must be a bool"),
    (lambda t: t.replace('engine = "mysql"', 'engine = "mysql"\npassword = "x"'),
     "put it in the defaults_file"),
    (lambda t: t + "\n[[", "not valid TOML"),
])
def test_bad_configs_say_what_to_fix(edit, message):
    with pytest.raises(site_config.SiteConfigError, match=message):
        site_config.parse(edit(EXAMPLE.read_text()), "x.toml")


def test_missing_env_var(monkeypatch):
    monkeypatch.delenv("CRDS_SITE_CONFIG", raising=False)
    with pytest.raises(site_config.SiteConfigError, match="CRDS_SITE_CONFIG is not set"):
        site_config.load()


@pytest.mark.parametrize("use", ["test", "ops"])
def test_check_deploy_is_clean_for_apache_uses(tmp_path, use):
    site = write_site_config(tmp_path, "hst", "tlhstcrds", use=use,
                             url="https://hst-crds-test.stsci.edu")
    done = manage(site, "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_unreadable_secret_key_is_explained(tmp_path):
    site = write_site_config(tmp_path, "hst", "x")
    (tmp_path / "django_secret_key").unlink()
    done = manage(site, "check", check=False)
    assert done.returncode != 0 and "secret_key_file" in done.stderr

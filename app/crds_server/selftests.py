"""The running server's self-tests: `invoke runtests` and the nightly run them on the
hidden backup port (``manage.py test crds_server.selftests``), before clients see it.

They use the real crds client, as a subprocess with a clean environment and a throw-away
cache, against the server's own HTTPS port ($SELFTEST_SERVER_URL, not a CRDS_* variable:
the settings clear those; verified with $REQUESTS_CA_BUNDLE): the operational rules sync
with sha1 checks, and a few of the references they name download with the catalog's sha1.
Read-only and bounded (the mappings of one context and at most SAMPLE references), so they
are safe on ops. No test database: they are SimpleTestCases.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase

SAMPLE = 3


class LiveServer(SimpleTestCase):
    """The server as the crds client sees it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = os.environ.get("SELFTEST_SERVER_URL", "")
        if not cls.url.startswith("https://"):
            raise RuntimeError("SELFTEST_SERVER_URL is not set: run the self-tests with "
                               "`invoke runtests --server <name>` (it sets the backup port)")
        cls.observatory = settings.SITE.observatory
        cls.cache = Path(tempfile.mkdtemp(prefix="crds-selftest-"))
        cls.bin = Path(sys.executable).parent

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cache, ignore_errors=True)
        super().tearDownClass()

    def run_client(self, *argv: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CRDS_", "DJANGO_"))}
        env.update(CRDS_SERVER_URL=self.url, CRDS_PATH=str(self.cache),
                   CRDS_OBSERVATORY=self.observatory, CRDS_MODE="remote")
        return subprocess.run([str(self.bin / argv[0]), *argv[1:]], env=env, text=True,
                              capture_output=True, timeout=600, check=False)

    def python(self, code: str) -> object:
        done = self.run_client("python", "-c", code)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        return json.loads(done.stdout.strip().splitlines()[-1])

    def server_info(self) -> dict:
        return self.python("import json; from crds.client import api; "
                           "print(json.dumps(api.get_server_info()))")

    def sync(self, *args: str) -> None:
        done = self.run_client("crds", "sync", "--check-files", "--check-sha1sum", *args)
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, output[-2000:])
        self.assertIn(" 0 errors", output, output[-2000:])

    def test_server_info_names_this_observatorys_contexts(self):
        info = self.server_info()
        for kind in ("operational_context", "edit_context"):
            self.assertTrue(info[kind].startswith(f"{self.observatory}_"), info[kind])
            self.assertTrue(info[kind].endswith(".pmap"), info[kind])

    def test_operational_rules_and_sample_references_sync_with_sha1(self):
        context = self.server_info()["operational_context"]
        self.sync("--contexts", context)
        names = self.python(
            f"import json, crds; m = crds.get_cached_mapping({context!r}); "
            "print(json.dumps(sorted(m.reference_names())))")
        sample = [n for n in names if not n.startswith("N/A")][:SAMPLE]
        self.assertTrue(sample, f"{context} names no references")
        self.sync("--files", *sample)
        paths = self.python(f"import json, crds; print(json.dumps([crds.locate_file(n, "
                            f"{self.observatory!r}) for n in {sample!r}]))")
        for name, path in zip(sample, paths, strict=True):
            self.assertTrue(Path(path).is_file(), f"{name} not downloaded to {path}")

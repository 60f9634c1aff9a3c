"""File downloads: /unchecked_get/{mappings,references,config,pickles}/<obs>/<name>.

Only names the catalog has are served (mappings/references), so no path from a URL
ever reaches the file system unchecked. Files are streamed with wsgi.file_wrapper
(sendfile under mod_wsgi) or handed to Apache with X-Sendfile.
"""

from __future__ import annotations

import mimetypes
import re

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse

from crds_server import store

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
BLOCK_SIZE = 8 * 1024 * 1024
CONFIG_FILES = ("server_config", "bad_files.txt", "ref_cache_subdir_mode")


def _send(path, name: str) -> HttpResponse:
    if settings.CRDS_X_SENDFILE:
        response = HttpResponse(content_type="application/octet-stream")
        response["X-Sendfile"] = str(path)
        response["Content-Length"] = str(path.stat().st_size)
    else:
        response = FileResponse(path.open("rb"), content_type="application/octet-stream")
        # read by wsgi.file_wrapper in big blocks (sendfile when mod_wsgi can use it)
        response.block_size = BLOCK_SIZE
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def unchecked_get(request, kind: str, observatory: str, name: str):
    if observatory != settings.CRDS_OBSERVATORY or not NAME_RE.match(name):
        raise Http404("no such file on this CRDS server")
    if kind in ("mappings", "references"):
        want = "mapping" if kind == "mappings" else "reference"
        if store.exact_file(name, want) is None:
            raise Http404(f"{name} is not in this CRDS server's catalog")
        path = store.path_of(name, want)
    elif kind == "config":
        if name not in CONFIG_FILES:
            raise Http404("no such config file")
        path = store.root() / "config" / observatory / name
    else:  # pickles
        if not name.endswith(".pmap.pkl") and not name.endswith(".pkl"):
            raise Http404("no such pickle")
        path = store.root() / "pickles" / observatory / name
    if not path.is_file():
        raise Http404(f"{name} is catalogued but missing from the file store")
    return _send(path, name)


mimetypes.add_type("text/plain", ".pmap")

"""The ReDCaT (extended) submission form: the 23 fields a reference team fills in beside
the batch form, as `crds.submit.rc_submit` reads them from
``/submission_form/redcat_description.yml`` and posts them to
``/submission_form/redcat_submit/``.

``data/redcat_description.yml`` is the form as the crds client's own test data
(``test/data/rc_description.yaml`` of crds 14.0.3) describes it; the instrument choices
are this server's observatory's instruments.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

DESCRIPTION = Path(__file__).with_name("data") / "redcat_description.yml"
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


@lru_cache(maxsize=4)
def fields(instruments: tuple[str, ...]) -> list[dict]:
    """The form's fields, in order, with ``instrument`` choosing among ``instruments``."""
    described = yaml.safe_load(DESCRIPTION.read_text())
    for field in described:
        if field["key"] == "instrument":
            field["choices"] = list(instruments)
            field["initial"] = instruments[0]
    return described


def description_yaml(instruments: tuple[str, ...]) -> str:
    return yaml.safe_dump(fields(instruments), sort_keys=False, width=100)


def validate(form: dict, instruments: tuple[str, ...],
             locked: str = "none") -> tuple[dict, list[str]]:
    """The form's ReDCaT values, typed, and every problem found (each naming its field and
    what to send), all at once."""
    values, problems = {}, []
    for field in fields(instruments):
        key, kind = field["key"], field["type"]
        raw = str(form.get(key, "")).strip()
        label = " ".join(str(field["label"]).split())[:90]
        if kind == "BooleanField":
            if raw.lower() not in TRUE + FALSE:
                problems.append(f"{key} ({label}): {raw[:40]!r} is not true or false")
                continue
            values[key] = raw.lower() in TRUE
            continue
        if not raw:
            if field.get("required"):
                problems.append(f"{key} ({label}) is required")
            values[key] = ""
            continue
        if kind == "TypedChoiceField":
            match = [c for c in map(str, field["choices"]) if c.lower() == raw.lower()]
            if not match:
                problems.append(f"{key}: {raw[:40]!r} is not one of "
                                f"{', '.join(map(str, field['choices']))}")
                continue
            raw = match[0]
        values[key] = raw[:2000]
    if values.get("instrument") and locked not in ("none", values["instrument"]):
        problems.append(f"instrument: {values['instrument']!r} is not the instrument you "
                        f"locked at login ({locked}); log in again with "
                        f"{values['instrument']} or correct the form")
    bad = [a for a in other_emails(values) if not _EMAIL.match(a)]
    if bad:
        problems.append(f"other_email: {', '.join(bad)[:200]} is not an e-mail address "
                        "(a comma-separated list of addresses)")
    return values, problems


def other_emails(values: dict) -> list[str]:
    return [a.strip() for a in str(values.get("other_email", "")).split(",") if a.strip()]

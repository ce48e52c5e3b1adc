"""Anonymise what a public repository must not hold in cassettes recorded against a real stack.

People's names, e-mails, avatar URLs and logins, incident titles (and the slugs and links made from
them), descriptions, summaries and timeline bodies become placeholders derived from a keyed hash
(HMAC-SHA256) of the original text: the same input always gives the same placeholder within a
recording (so a person or an incident stays recognisable across responses), and without the key
the original cannot be recovered by guessing (an e-mail address is easy to guess, its HMAC is not).

The key comes from ``CASSETTE_ANONYMISATION_KEY`` when set (re-recording with the same key gives
the same placeholders), else it is random for each recording session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable
from typing import Any

KEY_ENV = "CASSETTE_ANONYMISATION_KEY"

# Which fields hold what, by the object they sit in (recognised by a field only that object has).
_PERSON_FIELDS = {"name": "Person", "email": "email", "photoURL": "avatar", "grafanaLogin": "login"}
_INCIDENT_FIELDS = {"title": "Incident", "description": "Description", "summary": "Summary", "slug": "slug"}
_NOTE_FIELDS = {"body": "Note"}
_KEY_UPDATE_FIELDS = {"title": "Update", "content": "Update"}
_FIELD_VALUE_TEXT = {"title", "previousTitle"}
_OVERVIEW = re.compile(r"^(/a/[^/]+/incidents/[^/]+/)(.+)$")


class Anonymiser:
    """Replaces personal and incident text in decoded API responses with stable placeholders."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the anonymisation key must not be empty")
        self._key = key

    @classmethod
    def from_environment(cls) -> Anonymiser:
        """Keyed by ``CASSETTE_ANONYMISATION_KEY``, or by a random key for this session."""
        configured = os.environ.get(KEY_ENV, "")
        return cls(configured.encode() if configured else secrets.token_bytes(32))

    def placeholder(self, kind: str, text: str) -> str:
        """``text`` as a placeholder of ``kind``; empty text stays empty."""
        if not text:
            return text
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:10]
        if kind == "email":
            return f"user-{digest}@example.invalid"
        if kind == "avatar":
            return f"https://avatar.invalid/{digest}"
        if kind in ("login", "slug"):
            return f"{kind}-{digest}"
        return f"{kind} {digest}"

    def value(self, data: Any) -> Any:
        """A copy of decoded JSON with every sensitive field replaced."""
        if isinstance(data, list):
            return [self.value(item) for item in data]
        if not isinstance(data, dict):
            return data
        result = {key: self.value(item) for key, item in data.items()}
        if "userID" in data:  # UserPreview, User
            self._replace(result, _PERSON_FIELDS)
        if "incidentID" in data and ("createdByUser" in data or "severityLabel" in data):  # Incident, IncidentPreview
            self._replace(result, _INCIDENT_FIELDS)
            match = _OVERVIEW.match(str(data.get("overviewURL", "")))
            if match:
                result["overviewURL"] = match.group(1) + self.placeholder("slug", match.group(2))
        if "activityItemID" in data:  # ActivityItem
            self._replace(result, _NOTE_FIELDS)
            values = result.get("fieldValues")
            if isinstance(values, dict):
                for name in _FIELD_VALUE_TEXT & set(values):
                    values[name] = self.placeholder("Incident", str(values[name]))
        if "lastModifiedBy" in data:  # KeyUpdate
            self._replace(result, _KEY_UPDATE_FIELDS)
        return result

    def _replace(self, obj: dict[str, Any], fields: dict[str, str]) -> None:
        for name, kind in fields.items():
            if isinstance(obj.get(name), str):
                obj[name] = self.placeholder(kind, obj[name])

    def body(self, text: str) -> str:
        """A JSON response body anonymised (compact); a body that is not JSON is returned as it is."""
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return json.dumps(self.value(data), ensure_ascii=False, separators=(",", ":"))

    def response_hook(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A vcrpy ``before_record_response`` step that anonymises the stored body."""

        def anonymise(response: dict[str, Any]) -> dict[str, Any]:
            body = response.get("body", {}).get("string")
            if isinstance(body, bytes):
                response["body"]["string"] = self.body(body.decode("utf-8", "replace")).encode()
            elif isinstance(body, str):
                response["body"]["string"] = self.body(body)
            return response

        return anonymise

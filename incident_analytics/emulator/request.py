"""RPC requests: the errors answered (HTTP 400/404 with ``{"error": ...}``) and typed access to bodies.

Request bodies are decoded the way Go's ``encoding/json`` treats them: unknown fields are ignored
(docs/api.md#unknown-fields-are-ignored), ``null`` or a missing field is the zero value, and a value of the wrong JSON
type is an error (HTTP 400 naming the field).
"""

from __future__ import annotations

from typing import Any

from incident_analytics.emulator.times import parse_time


class RpcError(Exception):
    """An error answered as JSON ``{"error": message}`` with an HTTP status."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RpcError):
    """HTTP 400: the request is malformed or holds an invalid value."""

    status = 400


class NotFound(RpcError):
    """HTTP 404: the incident or task a write names does not exist."""

    status = 404


class Body:
    """Typed, validating read access to a JSON object from a request (``path`` names it in errors)."""

    def __init__(self, data: Any, path: str = "") -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BadRequest(f"{path or 'request body'} must be a JSON object")
        self.data: dict[str, Any] = data
        self.path = path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def string(self, key: str, *, required: bool = False) -> str:
        """A string field ("" when missing or null); ``required`` refuses an empty value."""
        value = self.data.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadRequest(f"{self._name(key)} must be a string")
        if required and not value:
            raise BadRequest(f"{self._name(key)} is required")
        return value

    def boolean(self, key: str) -> bool:
        """A boolean field (false when missing or null)."""
        value = self.data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise BadRequest(f"{self._name(key)} must be a boolean")
        return value

    def integer(self, key: str) -> int:
        """An integer field (0 when missing or null); integral floats such as ``10.0`` are accepted."""
        value = self.data.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{self._name(key)} must be an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise BadRequest(f"{self._name(key)} must be an integer")
            value = int(value)
        return value

    def strings(self, key: str) -> list[str]:
        """A list of strings ([] when missing or null)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BadRequest(f"{self._name(key)} must be a list of strings")
        return list(value)

    def obj(self, key: str) -> Body:
        """A nested object (empty when missing or null)."""
        return Body(self.data.get(key), self._name(key))

    def objs(self, key: str) -> list[Body]:
        """A list of objects ([] when missing or null)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadRequest(f"{self._name(key)} must be a list")
        return [Body(item, f"{self._name(key)}[{index}]") for index, item in enumerate(value)]

    def enum(self, key: str, allowed: tuple[str, ...], *, default: str = "") -> str:
        """A string that must be one of ``allowed``; empty gives ``default`` (or is refused if none)."""
        value = self.string(key)
        if not value:
            if default:
                return default
            raise BadRequest(f"{self._name(key)} is required; one of {', '.join(allowed)}")
        if value not in allowed:
            raise BadRequest(f"{self._name(key)} {value!r} is invalid; one of {', '.join(allowed)}")
        return value

    def timestamp(self, key: str, *, required: bool = False) -> int | None:
        """An RFC 3339 time field as nanoseconds (None when empty and not required)."""
        text = self.string(key, required=required)
        if not text:
            return None
        try:
            return parse_time(text)
        except ValueError as exc:
            raise BadRequest(f"{self._name(key)}: {exc}") from None

    def limit(self, key: str = "limit", *, default: int = 10, maximum: int = 100) -> int:
        """A page size: 0 or missing gives ``default``; below 0 or above ``maximum`` is refused."""
        value = self.integer(key)
        if value < 0 or value > maximum:
            raise BadRequest(f"{self._name(key)} must be between 1 and {maximum}, got {value}")
        return value or default

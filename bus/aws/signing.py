"""Signature V4 as botocore signs, with less work per request.

botocore's ``SigV4Auth`` copies the request's headers into an ``email.message``-based map twice
per request (once for the canonical request, once for the ``Authorization`` header), parses the URL
three times and derives the signing key with four HMACs each time: about 80 us of CPU per call
here, a fifth of a small SQS call (two calls per ten messages in the worker, one in a batched
publish). ``LightSigV4Auth`` is that class with those steps done on plain lists: the same canonical
request, string to sign and headers, byte for byte (``tests/aws/test_signing.py`` compares the two
on generated requests), the URL's parts and the signing key remembered (the key per secret key,
day, region and service, as SigV4 defines it). Anything unusual (a header value that is not ASCII
text) is signed by botocore's own code.

``light_signing(client)`` makes a client sign with it wherever botocore chose its plain
``SigV4Auth`` (every other signer, S3's included, is left alone). It relies on a botocore
internal, the client's ``_request_signer`` (its ``get_auth_instance``); a client without one is left
as it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

from botocore import auth as botocore_auth
from botocore.auth import EMPTY_SHA256_HASH, SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest

_IGNORED = frozenset(SIGNED_HEADERS_BLACKLIST)
_SigV4: Any = SigV4Auth  # botocore's stubs leave out the private methods overridden below
_host_from_url: Callable[[str], str] | None = getattr(botocore_auth, "_host_from_url", None)
MAX_ENTRIES = 64
"""URLs and signing keys remembered (a handful in practice); past it the memory starts again."""

_URLS: dict[str, tuple[str, str, str]] = {}
_KEYS: dict[tuple[str, str, str, str], bytes] = {}


class LightSigV4Auth(_SigV4):  # type: ignore[misc]
    """botocore's ``SigV4Auth``, the same signature with the header map, URL parsing and key
    derivation done once."""

    def _header_lines(self, request: Any) -> tuple[str, str] | None:
        """The canonical headers and the signed-header list; None: leave it to botocore."""
        values: dict[str, list[str]] = {}
        headers = request.headers
        # email.message's own list (the values ``items()`` would pass through its policy, which
        # leaves ASCII text as it is: anything else goes to botocore below)
        pairs = getattr(headers, "_headers", None)
        for name, value in pairs if type(pairs) is list else headers.items():
            if type(name) is not str or type(value) is not str or not value.isascii():
                return None
            lname = name.lower()
            if lname not in _IGNORED:
                values.setdefault(lname, []).append(value)
        if "host" not in values:
            values["host"] = [self._url(request.url)[2]]
        lines = [
            f"{key}:{','.join(' '.join(v.split()) for v in values[key])}" for key in sorted(values)
        ]
        signed = ";".join(sorted(n.lower().strip() for n in values))
        return "\n".join(lines), signed

    def _url(self, url: str) -> tuple[str, str, str]:
        """The URL's normalised path, canonical query string and host header."""
        parts = _URLS.get(url)
        if parts is None:
            split = urlsplit(url)
            host = _host_from_url(url) if _host_from_url is not None else str(split.hostname)
            parts = (
                self._normalize_url_path(split.path),
                self._canonical_query_string_url(split),
                host,
            )
            if len(_URLS) >= MAX_ENTRIES:
                _URLS.clear()
            _URLS[url] = parts
        return parts

    def canonical_request(self, request: Any) -> str:
        if _host_from_url is None:
            return str(super().canonical_request(request))
        found = self._header_lines(request)
        if found is None:
            return str(super().canonical_request(request))
        lines, signed = found
        # the same headers get signed: _inject_signature_to_request takes them from here
        self._signed_for: tuple[Any, str] | None = (request, signed)
        path, query, _ = self._url(request.url)
        if request.params:
            query = self._canonical_query_string_params(request.params)
        if "X-Amz-Content-SHA256" in request.headers:
            checksum = request.headers["X-Amz-Content-SHA256"]
        else:
            checksum = self.payload(request)
        return "\n".join((request.method.upper(), path, query, lines + "\n", signed, checksum))

    def payload(self, request: Any) -> str:
        """The body's SHA-256, from ``request.data`` when it is the body ``request.body`` would
        prepare (bytes) rather than preparing the whole request again."""
        data = request.data
        if (
            type(request) is AWSRequest
            and type(data) is bytes
            and not self._is_streaming_checksum_payload(request)
            and self._should_sha256_sign_payload(request)
        ):
            return sha256(data).hexdigest() if data else EMPTY_SHA256_HASH
        return str(super().payload(request))

    def signature(self, string_to_sign: str, request: Any) -> str:
        secret = self.credentials.secret_key
        day = request.context["timestamp"][0:8]
        cache_key = (secret, day, self._region_name, self._service_name)
        key = _KEYS.get(cache_key)
        if key is None:
            k_date = self._sign(f"AWS4{secret}".encode(), day)
            k_region = self._sign(k_date, self._region_name)
            k_service = self._sign(k_region, self._service_name)
            key = self._sign(k_service, "aws4_request")
            if len(_KEYS) >= MAX_ENTRIES:
                _KEYS.clear()
            _KEYS[cache_key] = key
        return str(self._sign(key, string_to_sign, hex=True))

    def _inject_signature_to_request(self, request: Any, signature: str) -> Any:
        done = getattr(self, "_signed_for", None)
        if done is not None and done[0] is request:  # no header changes in between (add_auth)
            signed: str | None = done[1]
            self._signed_for = None
        else:
            found = self._header_lines(request) if _host_from_url is not None else None
            signed = found[1] if found is not None else None
        if signed is None:
            return super()._inject_signature_to_request(request, signature)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return request


def light_signing(client: Any) -> bool:
    """Make ``client`` sign with ``LightSigV4Auth`` where botocore chose ``SigV4Auth``; whether
    it could."""
    signer = getattr(client, "_request_signer", None)
    original = getattr(signer, "get_auth_instance", None)
    if signer is None or not inspect.iscoroutinefunction(original):
        return False

    async def get_auth_instance(*args: Any, **kwargs: Any) -> Any:
        made = await original(*args, **kwargs)
        if type(made) is SigV4Auth:
            made.__class__ = LightSigV4Auth  # a subclass with no state of its own
        return made

    try:
        signer.get_auth_instance = get_auth_instance  # found before the class's method
    except AttributeError:
        return False
    return True

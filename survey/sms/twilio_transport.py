"""The Twilio implementation of :class:`~survey.sms.transport.SmsTransport`.

It uses the official ``twilio`` client (``client.messages.create``) and translates what
can go wrong into the transport's typed errors; this module and ``signatures.py`` are the
only places in Manyi that know Twilio.

Pointing the client elsewhere
-----------------------------
``base_url`` (tests: the fake Twilio on loopback) replaces the base URL of the client's
``api`` domain, ``client.api.base_url``: every Messages request is built from it
(``{base_url}/2010-04-01/Accounts/{sid}/Messages.json``), so the real request building,
authentication, serialisation and error parsing of the official client all run. Edge and
region settings (``TWILIO_EDGE``/``TWILIO_REGION``) are cleared then, since they rewrite
the host name. Plain ``http://`` is accepted only for loopback hosts: the auth token travels
in every request.

Failure mapping (Twilio -> transport)
-------------------------------------
* 21610 (recipient replied STOP) -> ``PermanentSendError``, ``OPTED_OUT``
* 21211 (invalid To), 21614 (To is not a mobile number) -> ``PermanentSendError``,
  ``INVALID_RECIPIENT``
* 429 / 20429 / 14107 (rate limited) -> ``RetryableSendError`` with ``Retry-After``
* 500, 502, 503 -> ``RetryableSendError``: Twilio answered that it failed
* 504 -> ``UncertainSendError``: a gateway gave up waiting for a Twilio that may have
  taken the message
* 401, 403, 404, 20003, 20005, 20404, 21212, 21408, 21603, 21606, 21659 (credentials,
  account, sender, geographic permission) -> ``TransportConfigError``
* any other 4xx -> ``PermanentSendError``, ``REJECTED`` (this message, not the number)
* no connection established (refused, DNS, connect timeout) -> ``RetryableSendError``
* TLS certificate not verified -> ``TransportConfigError`` (nothing was sent)
* read timeout, reset or closed after sending, unreadable 2xx, anything else from the
  network -> ``UncertainSendError``

After a crash, :meth:`TwilioTransport.find_sent` looks a message up in Twilio's log
(``client.messages.list``) so the dispatcher can tell "sent" from "unknown".

The client never retries by itself here: no ``max_retries`` is configured, so urllib3
makes exactly one attempt (a retried POST could be a duplicate SMS).

Several threads may send at once (the dispatcher keeps several messages in flight): each
thread gets a client of its own, with its own HTTP session and keep-alive connection. The
official client is not safe to share: ``TwilioHttpClient.request`` stores the response on
the client and returns that attribute, so two threads sharing one client can each read
the other's answer (a message SID recorded against the wrong invitation).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from survey.sms.segments import sms_segments
from survey.sms.transport import (
    OutgoingSms,
    PermanentReason,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendReceipt,
    TransportConfigError,
    UncertainSendError,
)

__all__ = ["TwilioTransport"]

_log = logging.getLogger(__name__)
_CLOCK_SKEW = timedelta(minutes=5)
_LOOKUP_LIMIT = 50

# Twilio error codes: https://www.twilio.com/docs/api/errors
_OPTED_OUT = frozenset({21610})
_INVALID_RECIPIENT = frozenset({21211, 21614})
_RATE_LIMITED = frozenset({20429, 14107})
_CONFIGURATION = frozenset({20003, 20005, 20404, 21212, 21408, 21603, 21606, 21659})
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503})
_CONFIGURATION_STATUS = frozenset({401, 403, 404})


class _HeaderKeepingHttpClient(TwilioHttpClient):
    """The official HTTP client, remembering the last response headers.

    ``TwilioRestException`` carries the status and code but not the headers, and the
    ``Retry-After`` of a 429 is in the headers. One per thread (see the module docstring).
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._headers: Mapping[str, str] | None = None

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._headers = None
        response = super().request(*args, **kwargs)
        self._headers = response.headers
        return response

    def last_headers(self) -> Mapping[str, str] | None:
        return self._headers


class TwilioTransport:
    """Send SMS through Twilio's Messages API with the official client.

    Parameters
    ----------
    account_sid, auth_token
        The account's credentials.
    messaging_service_sid
        Send through this Messaging Service (Twilio picks the sender from its pool); takes
        precedence over ``from_number``.
    from_number
        The sender (E.164 number, short code or alphanumeric ID) when there is no
        Messaging Service.
    base_url
        Another base URL for the REST API (the fake Twilio in tests), e.g.
        ``http://127.0.0.1:8731``. ``None``: Twilio itself.
    timeout
        Seconds for connecting and, separately, for waiting for the answer. A send that
        times out waiting for the answer raises ``UncertainSendError``.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        base_url: str | None = None,
        timeout: float = 10,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioTransport needs an account SID and an auth token")
        if not messaging_service_sid and not from_number:
            raise ValueError(
                "TwilioTransport needs a sender: set messaging_service_sid (a Messaging "
                "Service, preferred) or from_number"
            )
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.account_sid = account_sid
        self.messaging_service_sid = messaging_service_sid or None
        self.from_number = None if messaging_service_sid else from_number
        self.timeout = float(timeout)
        self._auth_token = auth_token
        self._base_url = _checked_base_url(base_url) if base_url is not None else None
        self._local = threading.local()
        self.base_url = self._client.api.base_url

    @property
    def _http(self) -> _HeaderKeepingHttpClient:
        self._client  # noqa: B018 -- builds this thread's client and HTTP client
        return self._local.http

    @property
    def _client(self) -> Client:
        """This thread's client (built on first use; see the module docstring)."""
        client = getattr(self._local, "client", None)
        if client is None:
            http = _HeaderKeepingHttpClient(timeout=self.timeout)
            client = Client(self.account_sid, self._auth_token, http_client=http)
            if self._base_url is not None:
                client.edge = None
                client.region = None
                client.api.base_url = self._base_url
            self._local.http, self._local.client = http, client
        return client

    def __repr__(self) -> str:
        sender = self.messaging_service_sid or self.from_number
        return (
            f"TwilioTransport(account_sid={self.account_sid!r}, sender={sender!r}, "
            f"base_url={self.base_url!r})"
        )

    def send(self, message: OutgoingSms) -> SendReceipt:
        """Send one SMS; see the module docstring for the errors raised."""
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        if message.status_callback_url:
            params["status_callback"] = message.status_callback_url
        try:
            instance = self._client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as error:
            raise self._translate_api_error(error) from error
        except requests.exceptions.RequestException as error:
            raise _translate_network_error(error, self.timeout) from error
        except json.JSONDecodeError as error:
            raise UncertainSendError(
                "Twilio answered with success but the body was not JSON: the message may "
                "have been accepted, its SID is unknown"
            ) from error
        if not instance.sid:
            raise UncertainSendError("Twilio answered with success but without a message SID")
        return SendReceipt(
            provider_message_id=instance.sid,
            status=str(instance.status or "queued"),
            segments=_segments(instance.num_segments, message.body),
        )

    def find_sent(self, to: str, body: str, since: datetime) -> SendReceipt | None:
        """Look for a message already accepted by Twilio: ``to``, exactly ``body``, recent.

        The dispatcher calls this for a message whose send was interrupted by a crash: a
        message found here was sent (and must not be sent again); ``None`` means "not
        found", and the dispatcher reports the message as uncertain. A failed look-up also
        returns ``None`` (and logs why): not knowing is reported, never guessed.

        Twilio's list filter works on ``date_sent``, which is empty while a message is
        queued, so the newest messages to ``to`` are read and filtered here by creation
        time (``since`` minus a few minutes of clock skew) and by the exact body; invitation
        bodies carry a unique link, so a body match identifies the invitation.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        earliest = since - _CLOCK_SKEW
        try:
            candidates = self._client.messages.list(to=to, limit=_LOOKUP_LIMIT)
        except (TwilioRestException, TwilioServiceException, requests.RequestException) as error:
            _log.warning("could not look up earlier messages in Twilio: %s", _short(error))
            return None
        for candidate in candidates:
            created = candidate.date_created
            if candidate.body == body and created is not None and created >= earliest:
                return SendReceipt(
                    provider_message_id=candidate.sid,
                    status=str(candidate.status),
                    segments=_segments(candidate.num_segments, body),
                )
        return None

    def _translate_api_error(
        self, error: TwilioRestException | TwilioServiceException
    ) -> SendError:
        status = int(error.status)
        code = error.code
        text = _error_text(error)
        if status == 429 or code in _RATE_LIMITED:
            return RetryableSendError(code, text, _retry_after(self._http.last_headers()))
        if code in _OPTED_OUT:
            return PermanentSendError(code, text, reason=PermanentReason.OPTED_OUT)
        if code in _INVALID_RECIPIENT:
            return PermanentSendError(code, text, reason=PermanentReason.INVALID_RECIPIENT)
        if code in _CONFIGURATION or status in _CONFIGURATION_STATUS:
            return TransportConfigError(
                code, f"Twilio refused the account or sender configuration: {text}"
            )
        if status in _RETRYABLE_STATUS:
            return RetryableSendError(code, text, _retry_after(self._http.last_headers()))
        if 400 <= status < 500:
            return PermanentSendError(code, text, reason=PermanentReason.REJECTED)
        return UncertainSendError(
            f"Twilio answered HTTP {status}; the message may have been accepted: {text}", code
        )


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            "base_url may use plain http only on loopback (the auth token is sent with "
            f"every request); got {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_text(error: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(error, TwilioRestException):
        return str(error.msg or f"HTTP {error.status}")
    return str(error.detail or error.title or f"HTTP {error.status}")


def _segments(reported: object, body: str) -> int:
    # Through a Messaging Service Twilio reports num_segments "0" until it has chosen a
    # sender; the dispatcher still needs the count, so it is computed as Twilio will.
    try:
        count = int(str(reported))
    except ValueError:
        count = 0
    return count if count > 0 else sms_segments(body).segments


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: causes, contexts, urllib3 reasons, args."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped.extend(current.args)
        pending.extend(item for item in wrapped if isinstance(item, BaseException))


def _translate_network_error(
    error: requests.exceptions.RequestException, timeout: float
) -> SendError:
    causes = list(_chain(error))
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return RetryableSendError(None, f"could not connect to Twilio within {timeout:g} s")
    if isinstance(error, requests.exceptions.ReadTimeout):
        return UncertainSendError(
            f"no answer from Twilio within {timeout:g} s after the request was sent; "
            "the message may have been accepted"
        )
    if isinstance(
        error,
        requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema,
    ):
        return TransportConfigError(None, f"the Twilio base URL is not usable: {error}")
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
        return TransportConfigError(None, f"Twilio's TLS certificate was not verified: {error}")
    # urllib3 raises NewConnectionError (refused, unresolvable) and ConnectTimeoutError only
    # while opening the connection, before a byte of the request is written.
    never_connected = any(
        isinstance(cause, MaxRetryError)
        and isinstance(cause.reason, NewConnectionError | ConnectTimeoutError)
        for cause in causes
    )
    if isinstance(error, requests.exceptions.ConnectionError) and never_connected:
        return RetryableSendError(None, f"could not connect to Twilio: {_short(error)}")
    return UncertainSendError(
        f"the connection to Twilio failed after the request was sent; the message may have "
        f"been accepted: {_short(error)}"
    )


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]

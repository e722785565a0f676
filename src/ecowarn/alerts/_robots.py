"""Officer channel kinds: default message templates, per-kind signing and answer checks.

Kinds (``kind`` of a channel in the officer channel file):

- ``generic``: a receiver of the operator's own (a relay, a ticket system). The default body
  is every field of the notification as JSON; the ``X-Ecowarn-Signature`` header signs it.
- ``wecom``: a WeCom (企业微信) group robot, ``.../cgi-bin/webhook/send?key=KEY``. The key in
  the URL is the credential (WeCom robots have no signature): keep the URL in ``url_env``.
- ``dingtalk``: a DingTalk (钉钉) custom robot, ``.../robot/send?access_token=TOKEN``. With a
  secret (security setting 加签, ``SEC...``) each attempt appends ``timestamp`` (ms) and
  ``sign`` = base64(HMAC-SHA256(secret, "timestamp\\nsecret")) to the URL, as DingTalk requires.
- ``feishu``: a Feishu/Lark (飞书) custom bot, ``.../bot/v2/hook/ID``. With a secret (签名校验)
  each attempt adds ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key="timestamp\\nsecret",
  empty message)) to the JSON body, as Feishu requires.

Robots answer HTTP 200 with an error code in the body (``errcode`` for WeCom and DingTalk,
``code`` for Feishu); a non-zero code is a failed attempt, retried like a 500. Every kind also
gets ``X-Ecowarn-Signature`` (HMAC-SHA256 of the body actually sent) when a secret is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import quote_plus

from ecowarn.alerts.webhook import ResponseCheck

__all__ = ["DEFAULT_TEMPLATES", "KINDS", "Kind", "answer_check", "signed_request"]

Kind = Literal["generic", "wecom", "dingtalk", "feishu"]
KINDS: Final[tuple[Kind, ...]] = ("generic", "wecom", "dingtalk", "feishu")

# The fields of a notification, in the order of the generic body (see alerts.notify.FIELDS).
GENERIC_FIELDS: Final[tuple[str, ...]] = (
    "event", "delivery_id", "channel", "issued_at", "title_zh", "text_zh", "title_en", "text_en",
    "event_zh", "event_en", "subject_id", "alert_id", "enterprise_id", "enterprise_name", "region",
    "rule", "rule_zh", "rule_en", "severity", "summary_zh", "summary_en", "start", "end", "level",
    "due", "device_id", "reason", "requirements", "link", "url")

# Chinese first, English below, then the console link.
_LINK = "[{open_zh} / {open_en}]({url})"

DEFAULT_TEMPLATES: Final[Mapping[Kind, Any]] = MappingProxyType({
    "generic": {"version": 1, **{name: "{" + name + "}" for name in GENERIC_FIELDS}},
    "wecom": {"msgtype": "markdown", "markdown": {
        "content": "**{title_zh}**\n{text_zh}\n\n{title_en}\n{text_en}\n\n" + _LINK}},
    "dingtalk": {"msgtype": "markdown", "markdown": {
        "title": "{title_zh}",
        "text": "#### {title_zh}\n\n{text_zh}\n\n{title_en}\n\n{text_en}\n\n" + _LINK}},
    "feishu": {"msg_type": "text", "content": {
        "text": "{title_zh}\n{text_zh}\n\n{title_en}\n{text_en}\n{url}"}},
})


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def signed_request(kind: Kind, url: str, body: bytes, secret: str | None, *,
                   now_s: float) -> tuple[str, bytes]:
    """The URL and body of one attempt: a DingTalk or Feishu signature at the wall-clock time
    ``now_s`` (robots refuse signatures older than an hour), else both unchanged."""
    if not secret:
        return url, body
    if kind == "dingtalk":
        stamp = str(int(now_s * 1000))
        sign = quote_plus(_hmac_b64(secret.encode("utf-8"), f"{stamp}\n{secret}".encode()))
        return f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}", body
    if kind == "feishu":
        stamp = str(int(now_s))
        message = json.loads(body)
        if isinstance(message, dict):
            message.update(timestamp=stamp, sign=_hmac_b64(f"{stamp}\n{secret}".encode(), b""))
            body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return url, body


def _code_check(*keys: str) -> ResponseCheck:
    def check(answer: bytes) -> str | None:
        try:
            reply = json.loads(answer)
        except ValueError:
            return None  # not JSON: the status decides
        if not isinstance(reply, dict):
            return None
        for key in keys:
            code = reply.get(key)
            if isinstance(code, int) and code != 0:
                message = reply.get("errmsg", reply.get("msg", reply.get("StatusMessage", "")))
                return f"robot answered {key} {code}: {message}"
        return None

    return check


_CHECKS: Final[Mapping[Kind, ResponseCheck]] = MappingProxyType({
    "wecom": _code_check("errcode"), "dingtalk": _code_check("errcode"),
    "feishu": _code_check("code", "StatusCode")})


def answer_check(kind: Kind) -> ResponseCheck | None:
    """How a 2xx answer of this kind of receiver is judged (None: the status alone)."""
    return _CHECKS.get(kind)

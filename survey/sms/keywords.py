"""What an inbound SMS reply is: an opt-out, an opt-in, a plea for help, an answer or text.

The rule is the carriers' rule: a keyword counts only when it is the *whole* message, after
normalisation (Twilio: "Only single-word messages will trigger the block ... replying
'STOP PLEASE' will not"). So "TD", " td ", "退订", "STOP!" and "ｓｔｏｐ" opt out, and
"stop sending me this" does not: it is free text, flagged with ``mentions_opt_out`` so a
person reads it. Matching more loosely would opt out customers who wrote "I could not stop
laughing"; matching less loosely than the provider would leave Manyi sending to numbers
the provider already blocks (21610).

Normalisation, in order: Unicode NFKC (full-width ``ＴＤ`` and ``１``, the ideographic
space, circled ``①`` become ASCII), case folding, whitespace runs collapsed to one space,
then punctuation, symbols (emoji included) and invisible characters stripped from both
ends ("1.", "【1】", "TD。", "STOP!!"). Keywords are also compared with inner spaces and
dashes removed, so "T D", "stop all" and "opt-out" are the keywords they spell.

Keywords and why
----------------
Opt-out
    ``STOP UNSUBSCRIBE STOPALL CANCEL END QUIT REVOKE OPTOUT``: Twilio's default opt-out
    list (Twilio blocks the number at its side for these and answers later sends with
    21610, so Manyi must record the same opt-outs); ``OPT-OUT`` (AWS's list); ``TD``,
    ``T``, ``退订`` and ``取消订阅``: the Chinese operators' convention ("回复TD退订",
    "退订回T"), which the law on commercial SMS makes binding for our customers.
Opt-in
    ``START UNSTOP``. Twilio also opts back in on ``YES``; Manyi does not, because "yes" is
    an ordinary word in a survey reply and treating it as consent would be the unsafe
    direction. (If the customer wants messages again, START is what the confirmation
    message tells them to send.)
Help
    ``HELP INFO`` (carrier-mandated) and ``帮助``.
Answer
    One or two digits, optionally followed by ``分`` ("points", as on the "10分满意"
    scales): "1", "１", "1.", " 1 ", "①", "10", "8分"; also a single Chinese numeral
    (一 ... 十, 零/〇), since some customers type those on a phone keyboard. The range is not
    checked here: that is the question's business, which re-prompts once on a bad value.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "InboundReply",
    "ReplyKind",
    "classify_reply",
    "normalize_reply",
]

OPT_OUT_KEYWORDS = frozenset(
    {
        "stop",
        "unsubscribe",
        "stopall",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "td",
        "t",
        "退订",
        "取消订阅",
    }
)
OPT_IN_KEYWORDS = frozenset({"start", "unstop"})
HELP_KEYWORDS = frozenset({"help", "info", "帮助"})

# Words that, inside a longer message, suggest the customer wants no more messages: such a
# message is not an opt-out (carriers would not treat it as one) but a person should read it.
_OPT_OUT_HINTS_LATIN = frozenset({"stop", "unsubscribe", "stopall", "optout", "td"})
_OPT_OUT_HINTS_CJK = ("退订", "取消订阅", "不要再发", "别再发", "别发", "不要发")

_CHINESE_NUMERALS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_ANSWER = re.compile(r"([0-9]{1,2}) ?分?")


class ReplyKind(enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    ANSWER = "answer"
    TEXT = "text"


@dataclass(frozen=True)
class InboundReply:
    """A classified reply.

    ``text`` is the normalised message; ``keyword`` the keyword matched (opt-out, opt-in,
    help); ``value`` the number given (answers); ``mentions_opt_out`` is True for free text
    that talks about stopping messages without being the keyword.
    """

    kind: ReplyKind
    text: str
    keyword: str | None = None
    value: int | None = None
    mentions_opt_out: bool = False


def _is_edge_noise(ch: str) -> bool:
    category = unicodedata.category(ch)
    # P*: punctuation, S*: symbols and emoji, Z*: separators, Cc/Cf: controls and invisible
    # format characters (zero-width space, BOM), Mn: a variation selector or skin-tone
    # modifier left over from an emoji.
    return category[0] in "PSZ" or category in ("Cc", "Cf", "Mn")


def normalize_reply(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, punctuation and symbols trimmed at both ends."""
    if not isinstance(text, str):
        raise TypeError(f"normalize_reply expects str, got {type(text).__name__}")
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(folded)
    while start < end and _is_edge_noise(folded[start]):
        start += 1
    while end > start and _is_edge_noise(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _compact(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Pd")


def _mentions_opt_out(text: str) -> bool:
    words = set(re.findall(r"[a-z]+", text))
    return bool(words & _OPT_OUT_HINTS_LATIN) or any(h in text for h in _OPT_OUT_HINTS_CJK)


def classify_reply(text: str) -> InboundReply:
    """Classify an inbound SMS body (see the module docstring for the rules).

    Examples
    --------
    >>> classify_reply(" ＴＤ ").kind
    <ReplyKind.OPT_OUT: 'opt_out'>
    >>> classify_reply("１.").value
    1
    >>> classify_reply("stop sending me this").kind
    <ReplyKind.TEXT: 'text'>
    """
    normalised = normalize_reply(text)
    compact = _compact(normalised)
    for keywords, kind in (
        (OPT_OUT_KEYWORDS, ReplyKind.OPT_OUT),
        (OPT_IN_KEYWORDS, ReplyKind.OPT_IN),
        (HELP_KEYWORDS, ReplyKind.HELP),
    ):
        if compact in keywords:
            return InboundReply(kind, normalised, keyword=compact)
    # Answers are matched without removing inner spaces: "1 2" is two answers or a typo,
    # not twelve.
    answer = _ANSWER.fullmatch(normalised)
    if answer is not None:
        return InboundReply(ReplyKind.ANSWER, normalised, value=int(answer.group(1)))
    numeral = compact.removesuffix("分")
    if numeral in _CHINESE_NUMERALS:
        return InboundReply(ReplyKind.ANSWER, normalised, value=_CHINESE_NUMERALS[numeral])
    return InboundReply(ReplyKind.TEXT, normalised, mentions_opt_out=_mentions_opt_out(normalised))

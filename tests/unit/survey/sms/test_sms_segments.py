"""SMS segment counting (3GPP TS 23.038), at the boundaries where counts change.

The GSM-7 tables of ``survey.sms.segments`` were compared once, code point by code point
over the whole BMP, with the independent ``gsm0338`` codec (PyPI): the same 127 basic and
10 extension characters.
"""

from __future__ import annotations

import pytest

from survey.sms.segments import SmsEncoding, sms_segments

GSM, UCS = SmsEncoding.GSM7, SmsEncoding.UCS2
HAN = "满"  # any BMP character outside the GSM alphabet
EMOJI = "😀"  # outside the BMP: a surrogate pair in UTF-16


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_text_splits_at_160_then_153_per_part(length, segments):
    assert sms_segments("a" * length) == (GSM, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_chinese_text_is_ucs2_and_splits_at_70_then_67_per_part(length, segments):
    assert sms_segments(HAN * length) == (UCS, segments)


def test_one_chinese_character_makes_the_whole_text_ucs2():
    assert sms_segments("a" * 69 + HAN) == (UCS, 1)
    assert sms_segments("a" * 70 + HAN) == (UCS, 2)


@pytest.mark.parametrize("char", ["€", "[", "]", "{", "}", "\\", "^", "~", "|", "\f"])
def test_extension_character_counts_two_septets_at_the_single_sms_boundary(char):
    assert sms_segments("a" * 158 + char) == (GSM, 1)  # 160 septets
    assert sms_segments("a" * 159 + char) == (GSM, 2)  # 161 septets


def test_text_of_extension_characters_only():
    assert sms_segments("[" * 80) == (GSM, 1)
    assert sms_segments("]" * 81) == (GSM, 2)


def test_escape_sequence_is_never_split_across_two_parts():
    # 306 septets would fit two parts of 153, but the euro sign would straddle them.
    assert sms_segments("a" * 152 + "€" + "a" * 152) == (GSM, 3)
    assert sms_segments("a" * 152 + "€" + "a" * 151) == (GSM, 2)


def test_emoji_counts_two_utf16_units_at_the_single_sms_boundary():
    assert sms_segments(HAN * 68 + EMOJI) == (UCS, 1)  # 70 units
    assert sms_segments(HAN * 69 + EMOJI) == (UCS, 2)  # 71 units


def test_surrogate_pair_is_never_split_across_two_parts():
    assert sms_segments(HAN * 66 + EMOJI + HAN * 66) == (UCS, 3)
    assert sms_segments(HAN * 66 + EMOJI + HAN * 65) == (UCS, 2)


def test_emoji_in_latin_text_makes_it_ucs2():
    assert sms_segments("Thanks " + EMOJI) == (UCS, 1)
    assert sms_segments("a" * 69 + EMOJI) == (UCS, 2)


def test_extension_character_is_one_unit_in_ucs2_text():
    assert sms_segments(HAN * 69 + "€") == (UCS, 1)


@pytest.mark.parametrize("text", ["é" * 160, "Ç", "ΔΦΓΛΩΠΨΣΘΞ", "Øø Åå Ææ ß ¡¿ ÄÖÑÜ §", "£$¥@\n\r"])
def test_non_ascii_characters_of_the_gsm_alphabet_stay_gsm7(text):
    assert sms_segments(text) == (GSM, 1)


@pytest.mark.parametrize("char", ["ç", "ê", "á", "`", "\t", "’", "“", "—", "¢"])
def test_characters_outside_the_gsm_alphabet_force_ucs2(char):
    # Lowercase ç, typographic quotes and tab are the classic surprises.
    assert sms_segments("a" * 100 + char) == (UCS, 2)


def test_survey_invitation_in_chinese_with_a_link():
    body = (
        "【满意度调查】您好，感谢您致电10086。"
        "请点击 https://m.example.cn/s/Ab3dE 评价本次服务，回复TD退订。"
    )
    assert len(body) == 68
    assert sms_segments(body) == (UCS, 1)
    assert sms_segments(body * 2) == (UCS, 3)  # 136 units: 67 + 67 + 2


def test_empty_text_is_one_gsm7_message():
    assert sms_segments("") == (GSM, 1)


def test_bytes_are_refused():
    with pytest.raises(TypeError):
        sms_segments(b"hello")  # type: ignore[arg-type]

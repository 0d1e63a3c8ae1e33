"""Questionnaires the tests build, beside the sample's (data/samples/)."""

from __future__ import annotations

import yaml

from survey.questionnaire import build_questionnaire, read_yaml

#: The hotline's post-contact evaluation, asked by SMS with a digit per answer.
HOTLINE = {
    "form_id": "hotline_eval",
    "version": "2026.1",
    "languages": ["zh", "en"],
    "default_language": "zh",
    "title": {"zh": "热线服务评价", "en": "Hotline evaluation"},
    "missing_codes": {"cannot_answer": {"label": {"zh": "无法回答", "en": "Cannot answer"}}},
    "choice_lists": {
        "sat3": [
            {"name": "1", "score": 3, "label": {"zh": "满意", "en": "Satisfied"}},
            {"name": "2", "score": 2, "label": {"zh": "一般", "en": "Neutral"}},
            {"name": "3", "score": 1, "label": {"zh": "不满意", "en": "Dissatisfied"}},
        ],
        "solved": [
            {"name": "1", "score": 1, "label": {"zh": "已解决", "en": "Solved"}},
            {"name": "2", "score": 0, "label": {"zh": "未解决", "en": "Not solved"}},
        ],
    },
    "items": [
        {"name": "overall", "type": "single", "choices": "sat3", "required": True,
         "label": {"zh": "您对本次热线服务满意吗？", "en": "Were you satisfied with the call?"}},
        # Asked only of customers who were not satisfied: skip logic works by SMS too.
        {"name": "solved", "type": "single", "choices": "solved", "required": True,
         "relevant": "${overall} != '1'",
         "label": {"zh": "您的问题解决了吗？", "en": "Was your problem solved?"}},
        {"name": "recommend", "type": "nps", "required": True,
         "label": {"zh": "您向朋友推荐我们的可能性有多大？",
                   "en": "How likely are you to recommend us?"}},
    ],
}  # fmt: skip


def hotline_questionnaire(**changes):
    document = yaml.safe_load(yaml.safe_dump(HOTLINE, allow_unicode=True))
    document.update(changes)
    questionnaire, problems = build_questionnaire(
        *read_yaml(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    )
    assert questionnaire is not None, problems
    return questionnaire

from datetime import UTC, datetime, timedelta, timezone

import pytest

from survey.sms.quiet_hours import next_allowed, parse_clock

SHANGHAI = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("utc_hour", "expected"),
    [
        (0, datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),  # 08:00 local: allowed
        (12, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # 20:00 local: allowed
        (13, datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),  # 21:00 local: quiet until 08:00
        (22, datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),  # 06:00 local next day: quiet
    ],
)
def test_quiet_hours_across_midnight_end_at_eight_local_time(utc_hour, expected):
    moment = datetime(2026, 3, 1, utc_hour, 0, tzinfo=UTC)
    assert next_allowed(moment, SHANGHAI, "21:00", "08:00") == expected


def test_quiet_window_within_one_day():
    noon_local = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=8)))
    assert next_allowed(noon_local, SHANGHAI, "12:00", "14:00") == noon_local.replace(
        hour=14, minute=0
    )


def test_equal_start_and_end_mean_no_quiet_hours():
    moment = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert next_allowed(moment, SHANGHAI, "00:00", "00:00") == moment


def test_quiet_hours_follow_the_recipients_daylight_saving_time():
    # 06:30 UTC on 8 March 2026 is 01:30 EST / after the jump 02:30 does not exist; the
    # window ends at 08:00 local, which is 12:00 UTC under EDT (UTC-4).
    moment = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert next_allowed(moment, "America/New_York", "21:00", "08:00") == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )


def test_naive_times_and_bad_clock_strings_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(datetime(2026, 3, 1, 12), SHANGHAI, "21:00", "08:00")
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("9pm")

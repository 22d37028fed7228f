"""The cron engine: a CronJob schedule read as Kubernetes reads it (robfig/cron, five fields).

`cron_field_problem` says what is wrong with one field (the `backup_schedule` parser in
operations/parsers.py reports it), `cron_longest_gap_hours` how long a valid schedule can go
without a run (the backup alarm and `appliance status` size their thresholds on it). Imports
nothing of the project.
"""

from __future__ import annotations

import datetime
import re

# As Kubernetes reads a CronJob's schedule (robfig/cron): each field a list of `*`, N or N-M,
# each optionally /STEP, within the field's range.
CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
CRON_ITEM_RE = re.compile(r"^(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def cron_field_problem(text: str, low: int, high: int) -> str | None:
    """What is wrong with one field of a cron schedule, or None:
    ``cron_field_problem("5-3", 0, 59)`` gives 'has 5-3, which runs backwards'."""
    for item in text.split(","):
        parsed = _cron_item(item)
        if parsed is None:
            return f"has {item!r}, which is not *, N or N-M (each optionally /STEP)"
        first, last, step = parsed
        numbers = [number for number in (first, last) if number is not None]
        if any(not low <= number <= high for number in numbers):
            return f"has {item!r}, outside {low}-{high}"
        if first is not None and last is not None and last < first:
            return f"has {item!r}, which runs backwards"
        if step == 0:
            return f"has {item!r}, a step of 0"
    return None


def _cron_item(item: str) -> tuple[int | None, int | None, int | None] | None:
    """One item's N, M and STEP (None where it has none; N is None for `*`):
    ``_cron_item("0-10/5")`` gives (0, 10, 5), ``_cron_item("*")`` (None, None, None); None for
    an item of another form."""
    match = CRON_ITEM_RE.match(item)
    if match is None:
        return None
    first, last, step = (None if group is None else int(group) for group in match.groups())
    return first, last, step


def _cron_values(text: str, low: int, high: int) -> set[int]:
    """The numbers one valid field selects: ``_cron_values("0-10/5", 0, 59)`` gives {0, 5, 10};
    ValueError for a field cron_field_problem refuses."""
    values: set[int] = set()
    for item in text.split(","):
        parsed = _cron_item(item)
        if parsed is None:
            raise ValueError(f"{item!r} is not a cron item; check it with cron_field_problem")
        first, last, step = parsed
        if first is None:  # *
            first, last = low, high
        elif last is None:  # N, or N/STEP: from N to the field's end
            last = high if step else first
        values.update(range(first, last + 1, step or 1))
    return values


def cron_longest_gap_hours(schedule: str) -> float | None:
    """The longest time between two runs of a valid cron schedule, over a year of runs (as
    robfig/cron: day of month or day of week when both are restricted); None when it runs less
    than twice a year (29 February): ``cron_longest_gap_hours("30 3 * * *")`` gives 24.0."""
    minutes, hours, days, months, weekdays = (
        _cron_values(text, low, high)
        for text, (_, low, high) in zip(schedule.split(), CRON_FIELDS, strict=True)
    )
    # Both day fields restricted (neither starts with *): either one matches.
    either = not any(text.startswith("*") for text in schedule.split()[2:5:2])
    in_a_day = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    longest, previous, start = 0, None, datetime.date(2026, 1, 1)
    for offset in range(366 + 31):
        day = start + datetime.timedelta(days=offset)
        in_month, on_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        if day.month in months and (
            (in_month or on_weekday) if either else (in_month and on_weekday)
        ):
            runs = [offset * 1440 + minute for minute in in_a_day]
            gaps = [
                later - earlier
                for earlier, later in zip(
                    [runs[0] if previous is None else previous] + runs, runs, strict=False
                )
            ]
            longest, previous = max([longest, *gaps]), runs[-1]
    return longest / 60 if longest else None

"""Counting casualties as pure functions: the most in any window, the threshold crossed at exactly n, percentages
and their minimum sample, the outage comparison, a casualty's round trip through the store."""

from __future__ import annotations

import pytest

from rollout_guard.fleet.casualties import DARK, Casualty, Tally, most_within, nth_counted, outage, verdict
from rollout_guard.fleet.state import decode, encode
from rollout_guard.policy import Casualties

# --- counting -----------------------------------------------------------------------------------------------


def casualties(*times: int, kind: str = "failed") -> list[Casualty]:
    return [Casualty(at, f"dev-{n}", kind) for n, at in enumerate(times)]


@pytest.mark.parametrize(("times", "window", "most"), [
    ([], 10, 0), ([0], 10, 1), ([0, 10, 20], 10, 2), ([0, 10, 20], 20, 3), ([0, 5, 100, 101, 102], 2, 3),
    ([0, 10, 11, 12], 10, 3)])
def test_the_most_casualties_in_any_window(times, window, most):
    assert most_within(times, window) == most


def test_the_threshold_is_crossed_at_exactly_n_and_not_before():
    rule = Casualties(things=3)
    assert not verdict(rule, casualties(1, 2), None, None).crossed
    assert verdict(rule, casualties(1, 2, 3), None, None).crossed


def test_duplicates_and_order_do_not_change_a_verdict():
    rule = Casualties(things=3, within_s=60)
    found = casualties(120_000, 0, 59_000, 61_000)
    shuffled = [found[2], found[0], found[3], found[1], found[2]]

    assert verdict(rule, found, None, None) == verdict(rule, shuffled, None, None)
    assert not verdict(rule, found, None, None).crossed  # no 60 s holds three of 0, 59, 61 and 120 s
    assert verdict(rule, casualties(0, 30_000, 60_000), None, None).crossed  # the window's ends count


def test_the_comment_names_the_count_the_threshold_and_the_first_things():
    found = casualties(1, 2, 3, 4, 5, 6)

    judged = verdict(Casualties(things=6), found, None, None)

    assert judged.detail == ("6 casualties, threshold 6 (6 failed): dev-0 failed, dev-1 failed, dev-2 failed, "
                             "dev-3 failed, dev-4 failed, ...")


def test_a_percentage_waits_for_its_minimum_sample_and_holds_at_its_boundary():
    rule = Casualties(percent=20, min_things=10)
    assert not verdict(rule, casualties(1, 2, 3), 9, None).crossed
    assert verdict(rule, casualties(1, 2), 10, None).crossed
    assert not verdict(rule, casualties(1, 2), 11, None).crossed


def test_an_outage_discounts_dark_things_only():
    found = [Casualty(1, "dev-1", DARK), Casualty(2, "dev-2", DARK), Casualty(3, "dev-3", "failed")]

    judged = verdict(Casualties(things=2), found, 10, "an outage")

    assert not judged.crossed and judged.discounted == 2 and [c.kind for c in judged.counted] == ["failed"]


@pytest.mark.parametrize(("dark", "executed", "others", "fleet", "is_outage"), [
    (3, 10, 20, 100, True),  # others 22% against the job's 30%: comparable
    (3, 10, 13, 100, False),  # 14.4% < 15%: just not comparable
    (3, 10, 14, 100, True),  # 15.6% >= 15%
    (3, 10, 0, 100, False),
    (0, 10, 50, 100, False),  # no dark thing: nothing to discount
])
def test_the_outage_comparison_is_half_the_jobs_share_or_more(dark, executed, others, fleet, is_outage):
    assert (outage(dark, executed, others, fleet) is not None) is is_outage




def test_a_casualty_round_trips_through_the_store():
    casualty = Casualty(1_700_000_000_123, "dev-1", "timed_out")

    assert decode(encode(casualty)) == casualty


def test_the_window_holds_its_edge_to_the_millisecond():
    rule = Casualties(things=3, within_s=60)

    assert verdict(rule, casualties(0, 30_000, 60_000), None, None).crossed
    assert not verdict(rule, casualties(0, 30_000, 60_001), None, None).crossed


def test_a_percentage_before_any_execution_reads_zero_of_zero():
    judged = verdict(Casualties(percent=5, min_things=1), [], None, None)

    assert judged.crossed is False
    assert judged.detail == "0 of 0 executed things (0.0%), threshold 5% once 1 have executed"


@pytest.mark.parametrize(("dark", "executed", "others", "fleet", "is_outage"), [
    (2, 10, 10, 110, True),  # exactly half the job's share: comparable
    (1, 0, 30, 100, False),  # nothing executed yet: the job's share is dark / 1
    (3, 2, 1, 3, True),  # no other thing but one: the others' share is out of 1
])
def test_the_outage_comparison_at_its_edges(dark, executed, others, fleet, is_outage):
    assert (outage(dark, executed, others, fleet) is not None) is is_outage


# --- the tally the state keeps instead of the casualties -----------------------------------------------------

MINUTE_MS = 60_000


def hurt(minute: int, thing: str, kind: str = "failed") -> Casualty:
    return Casualty(minute * MINUTE_MS, thing, kind)


FOUND = [hurt(3, "a"), hurt(1, "a", "timed_out"), hurt(2, "b", "dark"), hurt(5, "b"), hurt(4, "c", "dark"),
         hurt(6, "c", "dark"), hurt(7, "d", "still_dark"), hurt(8, "d", "dark")]


def test_a_tally_keeps_each_things_first_casualty_and_a_dark_things_confirmation_per_minute():
    tally = Tally.of(FOUND)

    # a: its first (timed_out at 1); b: dark at 2, confirmed still dark there by its later failure; c: its first dark;
    # d: a still_dark record and a dark one, each its own.
    assert tally.minutes == {1: {"timed_out": 1}, 2: {"dark": 1, "still_dark": 1}, 4: {"dark": 1},
                             7: {"still_dark": 1}, 8: {"dark": 1}}


def test_a_minute_counts_failures_and_dark_things_or_under_an_outage_the_confirmed_ones():
    tally = Tally.of(FOUND)

    assert [tally.counted_in(minute, None) for minute in range(9)] == [0, 1, 1, 0, 1, 0, 0, 0, 1]
    assert [tally.counted_in(minute, "an outage") for minute in range(9)] == [0, 1, 1, 0, 0, 0, 0, 1, 0]


def test_the_nth_counted_casualty_is_found_in_its_minute_with_the_count_before_it():
    tally = Tally.of(FOUND)

    assert [tally.nth_minute(n, None) for n in range(7)] == [(1, 0), (1, 0), (2, 1), (4, 2), (8, 3), None, None]
    assert [tally.nth_minute(n, "an outage") for n in range(5)] == [(1, 0), (1, 0), (2, 1), (7, 2), None]
    assert [nth_counted(FOUND, n, None) for n in range(6)] == [
        None, hurt(1, "a", "timed_out"), hurt(2, "b", "dark"), hurt(4, "c", "dark"), hurt(7, "d", "still_dark"), None]
    assert [nth_counted(FOUND, n, "an outage") for n in range(5)] == [
        None, hurt(1, "a", "timed_out"), hurt(5, "b"), hurt(7, "d", "still_dark"), None]


def test_a_comment_reads_the_minutes_of_the_first_five_casualties_and_of_the_last():
    from rollout_guard.fleet.evaluation import _first_and_last

    assert _first_and_last({1: {"failed": 2}, 2: {"dark": 2}, 3: {"failed": 1}, 4: {"failed": 3}, 9: {"dark": 1}}) == [
        1, 2, 3, 9]
    assert _first_and_last({1: {"failed": 5}, 2: {"failed": 1}, 3: {"dark": 1}}) == [1, 3]
    assert _first_and_last({1: {"failed": 4}, 2: {"failed": 1}, 3: {"dark": 1}, 4: {"dark": 1}}) == [1, 2, 4]
    assert _first_and_last({5: {"failed": 7}}) == [5] and _first_and_last({}) == []


@pytest.mark.parametrize(("times", "window", "n", "closing"), [
    ([0, 10, 20, 30], 15, 2, 1), ([0, 10, 20, 30], 15, 3, None), ([0, 10, 20, 30], 20, 3, 2),
    ([0, 5, 100, 105, 110], 10, 3, 4), ([0, 5, 100, 105, 110], 10, 2, 1), ([0], 10, 1, 0), ([0, 100], 10, 2, None),
    ([0, 10, 20], 10, 3, None),  # the window holds its edge: 0 and 20 are 20 apart
])
def test_the_casualty_that_closes_the_first_full_window(times, window, n, closing):
    from rollout_guard.fleet.casualties import first_within

    assert first_within(times, window, n) == closing


# --- the verdict, whole ------------------------------------------------------------------------------------------

FAILS = [hurt(0, "a"), hurt(1, "b", "rejected"), hurt(2, "c", "timed_out"), hurt(10, "d"), hurt(11, "e"), hurt(12, "f")]
FIRST_FIVE = "a failed, b rejected, c timed_out, d failed, e failed"


@pytest.mark.parametrize(("rule", "found", "executed", "crossed_by", "detail"), [
    (Casualties(things=4), FAILS, None, hurt(10, "d"),
     f"6 casualties, threshold 4 (4 failed, 1 rejected, 1 timed_out): {FIRST_FIVE}, ..."),
    (Casualties(things=3, within_s=120), FAILS, None, hurt(2, "c", "timed_out"),
     f"3 casualties within 120 s, threshold 3 (4 failed, 1 rejected, 1 timed_out): {FIRST_FIVE}, ..."),
    (Casualties(things=7), FAILS, None, None,
     f"6 casualties, threshold 7 (4 failed, 1 rejected, 1 timed_out): {FIRST_FIVE}, ..."),
    (Casualties(things=5), FAILS[:5], None, hurt(11, "e"),
     f"5 casualties, threshold 5 (3 failed, 1 rejected, 1 timed_out): {FIRST_FIVE}"),
    (Casualties(percent=50, min_things=4), FAILS[:3], 5, None,
     "3 of 5 executed things (60.0%), threshold 50% once 4 have executed (1 failed, 1 rejected, 1 timed_out): "
     "a failed, b rejected, c timed_out"),
])
def test_a_verdict_names_its_counts_its_threshold_the_first_things_and_the_one_that_crossed(
        rule, found, executed, crossed_by, detail):
    judged = verdict(rule, found, executed, None)

    assert (judged.crossed, judged.crossed_by, judged.detail) == (crossed_by is not None or rule.percent is not None,
                                                                  crossed_by, detail)
    assert (judged.counted, judged.total, judged.discounted) == (tuple(found), len(found), 0)


def test_a_percentage_waits_for_its_sample_and_reads_nothing_as_zero_percent():
    waiting = verdict(Casualties(percent=50, min_things=4), FAILS[:3], None, None)
    empty = verdict(Casualties(percent=50, min_things=4), [], 0, None)

    assert not waiting.crossed and waiting.detail.startswith("3 of 3 executed things (100.0%)")
    assert (empty.crossed, empty.detail) == (False, "0 of 0 executed things (0.0%), threshold 50% once 4 have executed")


def test_under_an_outage_only_confirmed_dark_things_count_and_the_reason_is_said():
    found = [hurt(0, "x", "dark"), hurt(0, "y", "dark"), hurt(1, "y"), hurt(2, "z")]

    outage_judged = verdict(Casualties(things=2), found, None, "the fleet went dark too")
    plain = verdict(Casualties(things=2), found, None, None)

    assert (outage_judged.crossed, outage_judged.total, outage_judged.discounted) == (True, 2, 1)
    assert outage_judged.crossed_by == hurt(2, "z")
    assert outage_judged.detail == ("2 casualties, threshold 2 (1 failed, 1 still_dark): y failed, z failed; "
                                    "the fleet went dark too")
    assert (plain.total, plain.discounted, plain.crossed_by) == (3, 0, hurt(0, "y", "dark"))
    assert plain.detail == "3 casualties, threshold 2 (2 dark, 1 failed): x dark, y dark, z failed"


def test_a_tally_counts_dark_things_unless_an_outage_discounts_them_and_still_dark_ones_whatever():
    tally = Tally({5: {"failed": 2, "rejected": 1, "dark": 3, "still_dark": 1}})

    assert tally.counted(None) == (6, 0)  # the still-dark thing is one of the dark ones
    assert tally.counted("an outage") == (4, 2)
    assert Tally({5: {"dark": 1, "still_dark": 1}}).counted("an outage") == (1, 0)


def test_each_thing_confirmed_still_dark_counts_once_of_its_own():
    tally = Tally.of([hurt(1, "a", "dark"), hurt(2, "a", "timed_out"), hurt(1, "b", "dark"), hurt(3, "b", "failed")])

    assert tally.total("still_dark") == 2 and tally.total("dark") == 2
    assert tally.counted("an outage") == (2, 0)


def test_the_crossing_within_its_minute_leaves_out_a_dark_thing_an_outage_discounts():
    found = [hurt(0, "a"), hurt(1, "b"), hurt(2, "c", "dark"), Casualty(hurt(2, "d").at_ms + 30_000, "d", "failed")]
    judged = verdict(Casualties(things=3), found, None, "an outage")

    assert judged.crossed and judged.crossed_by == found[3]  # not the dark thing earlier in the same minute
    assert judged.discounted == 1


def test_a_count_and_a_percentage_are_both_said():
    judged = verdict(Casualties(things=3, percent=10, min_things=5), [hurt(0, "a"), hurt(1, "b")], 40, None)

    assert judged.detail == ("2 casualties, threshold 3; 2 of 40 executed things (5.0%), threshold 10% once 5 have "
                             "executed (2 failed): a failed, b failed")
    assert not judged.crossed and judged.crossed_by is None

"""Pacing without a given rate limit: the rate is learned from the server's 429s (pacing.py)."""

from __future__ import annotations

from collections import Counter

import pytest

import incident_analytics as ia
from incident_analytics.emulator import Emulator
from incident_analytics.pacing import FORGET_AFTER_S, LearnedRate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _answers(learned: LearnedRate, clock: Clock, count: int, per_second: float) -> None:
    for _ in range(count):
        clock.now += 1 / per_second
        learned.answered()


def test_nothing_is_paced_before_a_429_and_a_429_without_answers_teaches_nothing() -> None:
    clock = Clock()
    learned = LearnedRate(clock=clock)
    assert learned.limiter is None and learned.rate is None
    assert learned.refused(resume_at=clock.now + 1) is None
    assert learned.limiter is None


def test_the_first_429_paces_at_90_percent_of_the_rate_accepted_just_before() -> None:
    clock = Clock()
    learned = LearnedRate(clock=clock)
    _answers(learned, clock, 40, per_second=20.0)  # a slow start: 2 s at 20/s
    _answers(learned, clock, 100, per_second=200.0)  # then 0.5 s at 200/s, and a 429
    rate = learned.refused(resume_at=clock.now + 1)
    assert rate == pytest.approx(0.9 * 200, rel=0.05)  # the recent rate, not the average with the slow start
    assert learned.limiter is not None and learned.rate == pytest.approx(rate)


def test_429s_sent_before_the_pause_teach_once_and_a_later_one_lowers_the_pace() -> None:
    clock = Clock()
    learned = LearnedRate(clock=clock)
    _answers(learned, clock, 100, per_second=200.0)
    first = learned.refused(resume_at=clock.now + 1)
    assert first is not None
    clock.now += 0.01
    assert learned.refused(resume_at=clock.now + 1) is None  # in flight when the first came back
    assert learned.rate == pytest.approx(first, rel=0.001)
    clock.now += 1.0  # the pause
    _answers(learned, clock, 300, per_second=first)  # the server still refuses at this pace
    second = learned.refused(resume_at=clock.now + 1)
    assert second is not None and second == pytest.approx(0.9 * first, rel=0.02)


def test_the_pace_creeps_up_while_quiet_and_is_forgotten_after_a_quiet_minute() -> None:
    clock = Clock()
    learned = LearnedRate(clock=clock)
    _answers(learned, clock, 100, per_second=100.0)
    rate = learned.refused(resume_at=clock.now + 1)
    assert rate is not None
    clock.now += 10
    assert learned.rate == pytest.approx(rate * 1.05)
    clock.now += FORGET_AFTER_S
    assert learned.limiter is None and learned.rate is None


def test_a_client_not_told_the_limit_learns_it_and_stops_meeting_it() -> None:
    """Against a 100/s server, the first 429s set a pace; later requests are (almost) never refused."""
    with Emulator(seed=3, incidents=200, rate_limit=(100.0, 10)) as emu, \
            ia.IncidentClient(emu.url, emu.token) as client:
        assert client.learned_rate is None
        data = ia.fetch(client, progress=False)
        statuses = Counter(r.status for r in emu.requests)
        assert client.learned_rate is not None and 30 < client.learned_rate < 110
    assert len(data.incidents) > 150
    assert statuses[429] > 0  # it had to meet the limit once to learn it
    assert statuses[429] < 0.05 * statuses[200], statuses


def test_a_client_told_the_limit_learns_nothing() -> None:
    with Emulator(seed=3, incidents=20) as emu, ia.IncidentClient(emu.url, emu.token, rate_limit=50.0) as client:
        emu.inject("429", times=1, retry_after=1)
        client.roles.list()
        assert client.learned_rate is None


def test_429s_that_keep_coming_at_the_pace_never_take_it_below_80_percent_of_the_first_rate() -> None:
    clock = Clock()
    learned = LearnedRate(clock=clock)
    _answers(learned, clock, 100, per_second=100.0)
    first = learned.refused(resume_at=clock.now + 1)
    assert first is not None
    for _ in range(20):  # a server that answers 429 now and then whatever the pace
        clock.now += 1.0
        _answers(learned, clock, 50, per_second=learned.rate or 1.0)
        learned.refused(resume_at=clock.now + 1)
    assert learned.rate == pytest.approx(0.8 * first, rel=0.01)

"""Adaptive concurrency: the AIMD gate on its own, then fetches against the emulator that show it
grows on a fast server, backs off on 429s, and never changes what is fetched."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

import incident_analytics as ia
from incident_analytics.concurrency import AdaptiveLimit, FetchStats, StatsRecorder
from incident_analytics.emulator import Emulator
from incident_analytics.transport import AttemptEvent

FRAMES = ("incidents", "tasks", "labels", "assignments", "activity", "errors")


def answer(seconds: float = 0.02, status: int | None = 200) -> AttemptEvent:
    return AttemptEvent("IncidentsService.GetIncident", status, seconds, None, False)


def test_the_limit_grows_by_one_per_round_of_steady_answers_up_to_the_maximum() -> None:
    gate = AdaptiveLimit(start=4, maximum=6)
    for _ in range(4):
        gate.observe(answer())
    assert gate.limit == 5  # one round of 4 answers: one more slot
    for _ in range(5):
        gate.observe(answer())
    assert gate.limit == 6
    for _ in range(60):
        gate.observe(answer())
    assert gate.limit == 6 and gate.increases == 2


def test_a_429_halves_the_limit_once_for_the_answers_already_in_flight() -> None:
    gate = AdaptiveLimit(start=16, maximum=32)
    for _ in range(16):
        gate.observe(answer())
    assert gate.limit == 17
    for _ in range(5):  # five 429s from calls sent together
        gate.observe(answer(status=429))
    assert gate.limit == 8 and gate.decreases == 1
    for _ in range(8):
        gate.observe(answer())
    gate.observe(answer(status=503))
    assert gate.limit == 4 and gate.decreases == 2


def test_network_errors_halve_it_too_but_never_below_one() -> None:
    gate = AdaptiveLimit(start=2, maximum=8)
    for _ in range(10):
        for _ in range(gate.limit):
            gate.observe(answer(status=None))
    assert gate.limit == 1


def test_a_round_twice_as_slow_as_usual_halves_it_and_a_slow_single_answer_does_not() -> None:
    gate = AdaptiveLimit(start=8, maximum=32)
    for _ in range(8):
        gate.observe(answer(0.020))
    assert gate.limit == 9
    for seconds in [0.020] * 8 + [0.500]:  # one outlier in a round: the median ignores it
        gate.observe(answer(seconds))
    assert gate.limit == 10
    for _ in range(10):
        gate.observe(answer(0.060))  # the whole round three times slower: saturated
    assert gate.limit == 8 and gate.decreases == 1  # halved, but not below the caller's concurrency


def test_a_slowdown_never_takes_it_below_the_start_but_429s_do() -> None:
    gate = AdaptiveLimit(start=4, maximum=32)
    for _ in range(40):
        gate.observe(answer(0.020))
    grown = gate.limit
    assert grown > 8
    for _ in range(10):
        for _ in range(gate.limit):
            gate.observe(answer(0.200))
    assert gate.limit == 4
    for _ in range(10):
        for _ in range(gate.limit):
            gate.observe(answer(status=429))
    assert gate.limit == 1


def test_a_millisecond_of_loopback_jitter_is_not_a_slowdown() -> None:
    gate = AdaptiveLimit(start=4, maximum=32)
    for _ in range(10):
        for seconds in (0.001, 0.004):  # four times slower, but 3 ms
            for _ in range(gate.limit):
                gate.observe(answer(seconds))
    assert gate.decreases == 0 and gate.limit == 24


def test_the_gate_never_admits_more_jobs_than_its_limit() -> None:
    gate = AdaptiveLimit(start=3, maximum=3)
    inside, most = 0, 0
    lock = threading.Lock()

    def job() -> None:
        nonlocal inside, most
        with gate.slot():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=job) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 3 and gate.peak == 3 and gate.active == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and the maximum"):
        AdaptiveLimit(start=9, maximum=8)


def test_the_recorder_counts_requests_retries_and_429s() -> None:
    stats = FetchStats()
    record = StatsRecorder(stats)
    record(AttemptEvent("m", 429, 0.01, 1.0, True))
    record(AttemptEvent("m", 503, 0.01, None, True))
    record(AttemptEvent("m", None, 0.01, None, True))
    record(AttemptEvent("m", 200, 0.01, None, False))
    assert (stats.requests, stats.retries, stats.rate_limited, stats.unavailable, stats.network_errors) == (
        4,
        3,
        1,
        1,
        1,
    )


# --------------------------------------------------------------------------------------------------
# Against the emulator.


def same_frames(a: ia.IncidentData, b: ia.IncidentData) -> None:
    for name in FRAMES:
        # An open incident's duration is counted up to the moment of the read.
        left, right = (getattr(d, name).drop(columns=["duration_seconds"], errors="ignore") for d in (a, b))
        pd.testing.assert_frame_equal(left, right, obj=name)


def test_on_a_fast_server_the_fetch_grows_past_its_start_and_says_so() -> None:
    with Emulator(seed=3, incidents=150, latency=0.01) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        fixed = ia.fetch(client, concurrency=4, max_concurrency=4, progress=False)
        adaptive = ia.fetch(client, concurrency=4, max_concurrency=16, progress=False)
        requests = len(emu.requests)
    same_frames(fixed, adaptive)
    stats = adaptive.fetch_stats
    assert stats is not None
    assert stats.concurrency == 4 and stats.max_concurrency == 16
    assert stats.increases > 0 and stats.peak_concurrency > 4
    assert stats.requests == requests / 2 and stats.rate_limited == 0 and stats.retries == 0
    assert set(stats.seconds) >= {"listing", "details", "activity", "frames", "total"}
    assert fixed.fetch_stats is not None and fixed.fetch_stats.peak_concurrency <= 4
    assert fixed.fetch_stats.increases == 0


def test_under_a_rate_limit_it_backs_off_and_fetches_the_same_frames() -> None:
    with Emulator(seed=3, incidents=80) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        reference = ia.fetch(client, progress=False)
    with (
        Emulator(seed=3, incidents=80, rate_limit=(150, 10)) as emu,
        ia.IncidentClient(emu.url, emu.token) as client,
    ):
        limited = ia.fetch(client, concurrency=16, max_concurrency=32, progress=False)
        answered_429 = sum(1 for r in emu.requests if r.status == 429)
    same_frames(reference, limited)
    stats = limited.fetch_stats
    assert stats is not None
    assert stats.rate_limited == answered_429 > 0
    assert stats.decreases >= 1 and stats.final_concurrency < 32
    assert stats.retries >= stats.rate_limited


def test_max_concurrency_is_checked_before_any_request() -> None:
    with Emulator(seed=3, incidents=5) as emu, ia.IncidentClient(emu.url, emu.token) as client:
        for bad in (4, 65, 2.5, True):
            with pytest.raises(ValueError, match="max_concurrency must be a whole number from concurrency"):
                ia.fetch(client, concurrency=8, max_concurrency=bad, progress=False)  # type: ignore[arg-type]
        assert emu.requests == []

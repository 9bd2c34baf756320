from deployer.polling import poll_until


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_returns_the_first_result_that_is_not_none():
    t = FakeTime()
    answers = iter([None, None, "ready"])
    assert poll_until(lambda: next(answers), 10, interval=1, clock=t.clock, sleep=t.sleep) == "ready"
    assert t.slept == [1, 1]


def test_times_out_with_none_and_never_sleeps_past_the_deadline():
    t = FakeTime()
    calls = []
    assert poll_until(lambda: calls.append(t.now), 2.5, interval=1, clock=t.clock, sleep=t.sleep) is None
    assert t.slept == [1, 1, 0.5]
    assert calls == [0, 1, 2, 2.5]  # checked once more at the deadline


def test_a_falsy_result_that_is_not_none_counts_as_done():
    t = FakeTime()
    assert poll_until(lambda: False, 5, clock=t.clock, sleep=t.sleep) is False
    assert t.slept == []

"""The generation loop's thread policy (aichoreo.threads): the user's setting wins, otherwise the
fastest measured count; a fake clock stands in for the passes' cost, so nothing here is timed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aichoreo.threads import ThreadTuner, thread_candidates, usable_cores


def test_candidates_follow_the_users_setting():
    assert thread_candidates({"AICHOREO_THREADS": "3"}) == (3,)
    assert thread_candidates({"AICHOREO_THREADS": "3", "OMP_NUM_THREADS": "1"}) == (3,)
    assert thread_candidates({"OMP_NUM_THREADS": "1"}) == (torch.get_num_threads(),)
    cores = usable_cores()
    assert thread_candidates({}) == ((1,) if cores == 1 else (1, cores))
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="AICHOREO_THREADS"):
            thread_candidates({"AICHOREO_THREADS": bad})


class FakeCPU:
    """A clock whose passes cost ``cost[threads]`` seconds per frame."""

    def __init__(self, cost: dict[int, float]):
        self.cost, self.now = cost, 0.0

    def clock(self) -> float:
        return self.now

    def run(self, tuner: ThreadTuner, passes: int, frames: int = 20) -> list[int]:
        used = []
        for _ in range(passes):
            with tuner.timed(frames):
                n = torch.get_num_threads()
                self.now += self.cost[n] * frames
            used.append(n)
        return used


def test_tuner_keeps_the_faster_count_and_notices_a_change():
    before = torch.get_num_threads()
    cpu = FakeCPU({1: 1e-3, 2: 5e-4})  # idle: two threads twice as fast
    tuner = ThreadTuner((1, 2), probe=3, keep=10, clock=cpu.clock)
    with tuner.run():
        first = cpu.run(tuner, 6 + 10)
        assert first[:6] == [1, 1, 1, 2, 2, 2] and first[6:] == [2] * 10
        cpu.cost = {1: 1e-3, 2: 3e-2}  # another job starts: two threads wait for each other
        second = cpu.run(tuner, 4 + 10)
        # One pass 30x slower than with one thread is enough to drop two threads for the round.
        assert second == [1, 1, 1, 2] + [1] * 10
    assert torch.get_num_threads() == before  # restored
    assert tuner.passes == {1: 3 + 3 + 10, 2: 3 + 10 + 1}


def runs(used: list[int]) -> list[tuple[int, int]]:
    """``used`` as (count, passes in a row)."""
    out: list[tuple[int, int]] = []
    for n in used:
        out = out[:-1] + [(n, out[-1][1] + 1)] if out and out[-1][0] == n else out + [(n, 1)]
    return out


def test_a_steady_load_is_probed_less_and_less_often():
    cpu = FakeCPU({1: 1e-3, 2: 5e-4})
    tuner = ThreadTuner((1, 2), probe=3, keep=50, clock=cpu.clock)
    with tuner.run():
        used = cpu.run(tuner, 6 * 5 + 10 + 20 + 40 + 50)
    # each round: 3 passes on one thread, then two threads (3 probed + the kept ones)
    assert runs(used) == [(1, 3), (2, 3 + 10), (1, 3), (2, 3 + 20), (1, 3), (2, 3 + 40), (1, 3), (2, 3 + 50),
                          (1, 3), (2, 3)]


def test_a_job_starting_beside_more_threads_ends_the_round_at_once():
    cpu = FakeCPU({1: 1e-3, 2: 5e-4})
    tuner = ThreadTuner((1, 2), probe=3, keep=100, patience=3, clock=cpu.clock)
    with tuner.run():
        cpu.run(tuner, 6 + 10 + 6 + 5)  # two rounds; 5 passes into the second one's 20 kept passes
        cpu.cost = {1: 1e-3, 2: 3e-2}
        used = cpu.run(tuner, 3 + 4 + 10)
    # 3 slow passes end the round (not 15 more), the next round drops two threads after one pass
    assert used == [2, 2, 2] + [1, 1, 1, 2] + [1] * 10
    # A core freed beside one thread: one thread's passes do not change, the next round sees it.
    cpu2 = FakeCPU({1: 1e-3, 2: 3e-2})
    tuner = ThreadTuner((1, 2), probe=3, keep=100, clock=cpu2.clock)
    with tuner.run():
        cpu2.run(tuner, 4 + 5)
        cpu2.cost = {1: 1e-3, 2: 5e-4}
        used = cpu2.run(tuner, 5 + 6 + 10)
    assert used == [1] * 5 + [1, 1, 1, 2, 2, 2] + [2] * 10


def test_one_candidate_is_fixed():
    cpu = FakeCPU({1: 1e-3})
    tuner = ThreadTuner((1,), clock=cpu.clock)
    with tuner.run():
        assert cpu.run(tuner, 50) == [1] * 50
    assert not tuner.tuning and tuner.passes == {1: 50}


@pytest.mark.parametrize("bad", [(), (0,), (1.5,), (True,)])
def test_bad_candidates(bad):
    with pytest.raises(ValueError):
        ThreadTuner(bad)


def test_tuned_generation_equals_a_fixed_count():
    """The thread count changes the speed, not the dance."""
    from aichoreo.generate import generate
    from aichoreo.models import build_model, get_preset

    torch.manual_seed(0)
    model = build_model(get_preset("tiny"))
    rng = np.random.default_rng(0)
    music = rng.normal(size=(300, 35)).astype(np.float32)  # 61 frames: a random network is chaotic over more
    seed = rng.normal(size=(120, 225)).astype(np.float32)
    fixed = generate(model, music, seed, frames_per_step=5, threads=1)
    tuner = ThreadTuner((1, 2), probe=2, keep=3)
    tuned = generate(model, music, seed, frames_per_step=5, threads=tuner)
    assert sum(tuner.passes.values()) == -(-(300 - 240 + 1) // 5) and len(tuner.passes) == 2
    # Float sums may differ in the last bits between thread counts (1e-7 here), and a random network
    # fed its own output amplifies that over the passes (1.4e-5 after 12 passes, measured).
    np.testing.assert_allclose(tuned, fixed, atol=1e-4)


def test_a_watched_job_that_ends_starts_a_round():
    """``aichoreo dance`` generates beside ffmpeg encoding the song: when it ends, every core is tried
    again at once, not after the kept passes."""
    cpu = FakeCPU({1: 1e-3, 2: 3e-2})  # the encoder holds a core: one thread wins
    ended = []
    tuner = ThreadTuner((1, 2), probe=3, keep=100, clock=cpu.clock)
    tuner.watch(lambda: bool(ended))
    with tuner.run():
        assert cpu.run(tuner, 4 + 3) == [1, 1, 1, 2, 1, 1, 1]
        ended.append(True)
        cpu.cost = {1: 1e-3, 2: 5e-4}
        # the next pass starts a round, which finds two threads faster
        assert cpu.run(tuner, 6 + 10) == [1, 1, 1, 2, 2, 2] + [2] * 10


def test_one_threads_uneven_passes_beside_a_busy_process_do_not_end_its_rounds():
    """Beside a busy process one thread's passes vary; a probe of two threads there is slow, so
    their variation must not start rounds (only more threads slowing down does)."""

    class Uneven(FakeCPU):
        def run(self, tuner, passes, frames=20):
            used = []
            for j in range(passes):
                with tuner.timed(frames):
                    n = torch.get_num_threads()
                    self.now += (self.cost[n] * (3.0 if n == 1 and j % 8 >= 4 else 1.0)) * frames
                used.append(n)
            return used

    cpu = Uneven({1: 1e-3, 2: 3e-2})
    tuner = ThreadTuner((1, 2), probe=3, keep=100, clock=cpu.clock)
    with tuner.run():
        used = cpu.run(tuner, 4 + 10 + 4 + 20)
    assert runs(used) == [(1, 3), (2, 1), (1, 10 + 3), (2, 1), (1, 20)]

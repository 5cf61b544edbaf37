"""The playout buffer between a speaker's decoder and the mixing tick: jitter must not
leave a speaker permanently behind."""

from __future__ import annotations

import numpy as np

from media_worker.mixer import FRAME_SAMPLES
from media_worker.playout import PlayoutBuffer

QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int32)


def loud(marker: int = 1) -> np.ndarray:
    frame = np.full(FRAME_SAMPLES, 10_000, dtype=np.int32)
    frame[0] = marker
    return frame


def test_frames_come_out_in_order_and_an_empty_tick_is_none():
    buffer = PlayoutBuffer()
    assert buffer.pop() is None
    buffer.push(loud(1))
    buffer.push(loud(2))
    assert buffer.pop()[0] == 1
    assert buffer.pop()[0] == 2
    assert buffer.pop() is None


def test_a_full_buffer_drops_its_oldest_frame():
    buffer = PlayoutBuffer(capacity=3)
    for marker in range(1, 6):
        buffer.push(loud(marker))
    assert len(buffer) == 3 and buffer.pop()[0] == 3


def test_a_lasting_backlog_loses_a_quiet_frame_after_patience():
    buffer = PlayoutBuffer(capacity=5, patience=10, max_patience=50)
    buffer.push(QUIET)  # one frame of backlog: everything from here waits an extra 20 ms
    for _ in range(9):
        buffer.push(QUIET)
        assert buffer.pop() is not None
        assert len(buffer) == 1
    buffer.push(QUIET)
    buffer.pop()  # the tenth tick with a backlog: one quiet frame skipped
    assert len(buffer) == 0 and buffer.dropped == 1
    buffer.push(QUIET)
    buffer.pop()
    assert buffer.dropped == 1  # no backlog, nothing more dropped


def test_speech_is_not_cut_until_the_backlog_has_lasted_much_longer():
    buffer = PlayoutBuffer(capacity=5, patience=10, max_patience=50)
    buffer.push(loud())
    for tick in range(1, 50):
        buffer.push(loud())
        buffer.pop()
        assert buffer.dropped == 0, tick
    buffer.push(loud())
    buffer.pop()
    assert buffer.dropped == 1 and len(buffer) == 0


def test_clearing_forgets_the_frames_and_the_backlog():
    buffer = PlayoutBuffer(capacity=5, patience=2)
    buffer.push(QUIET)
    buffer.push(QUIET)
    buffer.pop()
    buffer.clear()
    assert len(buffer) == 0 and buffer.pop() is None
    buffer.push(QUIET)
    buffer.push(QUIET)
    buffer.pop()
    assert buffer.dropped == 0  # the count of backlogged ticks started again

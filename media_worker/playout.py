"""A speaker's decoded frames waiting for the mixing tick, kept as short as the network allows.

Frames arrive on the speaker's clock and leave on the room's 20 ms tick. Each time a frame
is late the tick finds nothing (that tick is silence) and the late frame then waits behind
the next one: the backlog only ever grows, one jitter event at a time, until its cap — in
a long room every speaker ends up a full cap (60 ms) behind. So when frames have been
left over after the tick for a while, one is dropped, preferably a quiet one (a gap in
speech is where a skipped 20 ms goes unheard).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from media_worker.mixer import level

QUIET_LEVEL = 0.01  # RMS below which dropping a frame goes unheard


class PlayoutBuffer:
    def __init__(self, capacity: int = 3, patience: int = 10, max_patience: int = 50):
        self._frames: deque[np.ndarray] = deque(maxlen=capacity)  # a full buffer drops its oldest
        self._patience = patience  # ticks with a backlog before a quiet frame is dropped
        self._max_patience = max_patience  # ... before any frame is
        self._backlogged_ticks = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: np.ndarray) -> None:
        self._frames.append(frame)

    def clear(self) -> None:
        self._frames.clear()
        self._backlogged_ticks = 0

    def pop(self) -> np.ndarray | None:
        """The frame for this tick (None if none arrived in time), trimming a lasting backlog."""
        if not self._frames:
            self._backlogged_ticks = 0
            return None
        frame = self._frames.popleft()
        if not self._frames:
            self._backlogged_ticks = 0
            return frame
        self._backlogged_ticks += 1
        if self._backlogged_ticks >= self._max_patience or (
                self._backlogged_ticks >= self._patience and level(frame) < QUIET_LEVEL):
            frame = self._frames.popleft()  # skip one 20 ms frame: one tick less behind
            self.dropped += 1
            self._backlogged_ticks = 0
        return frame

"""The batch script's progress display keeps its clocks moving while nothing reports."""

from __future__ import annotations

import io
import time

from service.batch.progress import ProgressDisplay


def test_the_clocks_move_while_a_stage_reports_nothing() -> None:
    """A model loading or one long batch reports nothing for a while: the display is
    redrawn anyway, so its elapsed times go on counting."""
    screen = io.StringIO()
    with ProgressDisplay(4, show=True, file=screen, refresh_s=0.2) as display:
        display.stage("loading models")
        time.sleep(2.3)
    lines = screen.getvalue().replace("\x1b[A", "").replace("\r", "\n").splitlines()
    assert "loading models [00:02]" in lines
    assert any(line.startswith("articles:") and "0/4 [00:02<" in line for line in lines)


def test_hidden_display_draws_nothing() -> None:
    screen = io.StringIO()
    with ProgressDisplay(2, show=False, file=screen) as display:
        display.stage("translating articles 1-2", 1, 5, "sentences")
        display("note")
        display.article_done()
    assert screen.getvalue() == ""

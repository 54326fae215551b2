"""bench/pick_heatmap.py: success by cube position over the pick area, drawn as a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import bench_module


def heatmap():
    return bench_module("pick_heatmap")


def test_grid_cells_cover_the_pick_area():
    from liftrl.sim.start_pose import PICK_AREA

    xs, ys = heatmap().parse_grid("4x2").centres(PICK_AREA)
    assert len(xs) == 4 and len(ys) == 2
    np.testing.assert_allclose(xs[0] - PICK_AREA.x[0], PICK_AREA.x[1] - xs[-1])
    assert PICK_AREA.x[0] < xs[0] < xs[-1] < PICK_AREA.x[1] and PICK_AREA.y[0] < ys[0] < ys[-1] < PICK_AREA.y[1]


def test_cells_differ_where_the_policy_does(tmp_path):
    """A policy that only succeeds on one side gives a map with that side lit: the grid reads real episodes."""
    mod = heatmap()
    env, make_scripted = mod.scripted_policy(max_episode_steps=400)
    try:
        def one_sided():
            scripted = make_scripted()
            # hold the arm still (and the jaws open) when the cube is on the +y side: never a success there
            still = np.zeros(env.action_space.shape, np.float32)
            still[3] = 1.0
            return lambda obs, info: scripted(obs, info) if info["cube_pos"][1] < 0 else still
        rates = mod.success_grid(env, one_sided, mod.Grid(1, 2), episodes=1)
    finally:
        env.close()
    assert rates.shape == (2, 1)
    assert rates[1, 0] == 0.0 and rates[0, 0] == 1.0
    out = tmp_path / "map.png"
    mod.plot({"one-sided": rates, "copy": rates}, mod.Grid(1, 2), 1, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [(["--scripted", "--grid", "4"], "--grid"), ([], "nothing to map"),
                                           (["--run", "x=/no/such/run"], "")])
def test_bad_input_exits_2(argv, message, capsys, tmp_path):
    assert heatmap().main(argv + ["--out", str(tmp_path / "m.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()

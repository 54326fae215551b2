"""bench/cube_localiser.py: arm states, views in each condition's scene, the error by distance band."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench_modules import BENCH, bench_module

ROOT = BENCH.parent


def localiser():
    return bench_module("cube_localiser")


def test_band_rms_is_the_3d_rms_per_distance_band_in_cm():
    errors = np.array([[0.01, 0.0, 0.0], [0.0, 0.03, 0.04], [0.02, 0.0, 0.0]])
    bands = localiser().band_rms(errors, np.array([0.01, 0.05, 0.07]))
    assert [(b["from_cm"], b["frames"]) for b in bands] == [(0.0, 1), (3.0, 2)]  # no frame 8-20 cm: no row
    assert bands[0]["rms_3d_cm"] == pytest.approx(1.0)
    assert bands[1]["rms_3d_cm"] == pytest.approx(np.sqrt((0.05 ** 2 + 0.02 ** 2) / 2) * 100, abs=0.01)


def test_conditions_parse_and_a_bad_one_is_named():
    mod = localiser()
    assert mod.parse_conditions(["plain=", "fixed=env.camera_shift_m=0;env.cube_sizes_mm=[30]"]) == {
        "plain": (), "fixed": ("env.camera_shift_m=0", "env.cube_sizes_mm=[30]")}
    assert mod.parse_conditions(None) == mod.DEFAULT_CONDITIONS
    for bad in ("=env.camera_shift_m=0", "no_equals_sign"):
        with pytest.raises(SystemExit, match="NAME=OVERRIDE"):
            mod.parse_conditions([bad])


def test_arm_states_rest_the_cube_near_the_tool_and_views_follow_the_condition():
    mod = localiser()
    states = mod.arm_states(2, seed=0, noise=0.3)
    p, tool = states["privileged"], states["state"][:, 12:15]
    assert len(p) > 20 and set(states["episode"]) <= {0, 1}
    assert np.all(np.linalg.norm(p[:, :3] - tool, axis=1) < 0.2)
    np.testing.assert_allclose(p[:, 2], p[:, 3], atol=0.005)  # the cube's centre a half size above the table
    small, small_y, small_p = mod.render_views(states, ("env.cube_sizes_mm=[20]", "env.camera_shift_m=0"), 6, seed=3)
    large, large_y, large_p = mod.render_views(states, ("env.cube_sizes_mm=[40]", "env.camera_shift_m=0"), 6, seed=3)
    assert small.shape == (6, 3, 64, 64) and small.dtype == np.uint8 and small_y.shape == (6, 3)
    # the condition's options reach the scene: every view's cube has the condition's size, resting
    np.testing.assert_allclose(small_p[:, 3], 0.010, atol=1e-6)
    np.testing.assert_allclose(large_p[:, 3], 0.020, atol=1e-6)
    np.testing.assert_allclose(large_p[:, 2], 0.020, atol=1e-6)
    assert np.abs(large.astype(int) - small.astype(int)).mean() > 0.5


@pytest.mark.slow
def test_tiny_run_writes_its_report(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    out = subprocess.run([sys.executable, str(BENCH / "cube_localiser.py"), "--tiny", "--out", str(tmp_path / "loc"),
                          "--condition", "plain=", "--condition", "fixed=env.camera_shift_m=0;env.cube_sizes_mm=[30]"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "loc.json").read_text())
    assert list(report["conditions"]) == ["plain", "fixed"]
    assert report["conditions"]["fixed"]["overrides"] == ["env.camera_shift_m=0", "env.cube_sizes_mm=[30]"]
    last = report["conditions"]["plain"]["curve"][-1]
    assert last["updates"] == report["updates"] and all(np.isfinite(b["rms_3d_cm"]) for b in last["bands"])
    assert "| fixed | env.camera_shift_m=0 env.cube_sizes_mm=[30] |" in (tmp_path / "loc.md").read_text()

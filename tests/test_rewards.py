"""Reward versions: hand-worked golden values, so a silent change to a version's meaning fails here.

Every expected total below is a literal worked out by hand from TASK.md's formulas (tanh values in
the comments), never computed by the code under test. H = lift_height = 0.08 in every row, and
|a - a_prev|^2 = 0.5^2 = 0.25 (a = [0.5, 0, 0, -1], a_prev = [0, 0, 0, -1]) unless a row says so.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from liftrl.rewards import (
    REQUIRED_INFO_KEYS,
    TERMS,
    DuplicateRewardError,
    RewardResult,
    RewardVersion,
    RewardVersionChangedWarning,
    UnknownRewardError,
    check_fingerprint,
    episode_term_sums,
    fingerprint,
    get_reward,
    known_versions,
    register,
)
from liftrl.rewards import v11 as v11_module
from liftrl.rewards import v19 as v19_module

REWARDS_DIR = Path(__file__).resolve().parents[1] / "src" / "liftrl" / "rewards"
CUBE_XY = (0.25, 0.0)


def make_info(
    z: float = 0.015,
    tool: tuple[float, float, float] = (0.0, 0.0, 0.0),
    pad: tuple[float, float, float] = (0.0, 0.015, 0.0),
    *,
    closed: bool = False,
    grasping: bool = False,
    was_grasping: bool | None = None,
    hold: int = 0,
    success: bool = False,
    action=(0.5, 0.0, 0.0, -1.0),
    prev_action=(0.0, 0.0, 0.0, -1.0),
) -> dict:
    """A step info with the cube at (0.25, 0, z); ``tool`` and ``pad`` are offsets from the cube."""
    cube = np.array([*CUBE_XY, z])
    was = grasping if was_grasping is None else was_grasping
    return {
        "tool_pos": cube + np.array(tool),
        "cube_pos": cube,
        "moving_pad_pos": cube + np.array(pad),
        "gripper_closed": closed,
        "is_grasping": grasping,
        "was_grasping": was,
        "grasp_lost": was and not grasping,
        "hold_count": hold,
        "is_success": success,
        "action": np.array(action),
        "prev_action": np.array(prev_action),
        "lift_height": 0.08,
    }


# Hand-worked values used below:
#   1 - tanh(2.0)  = 0.0359724199241831     (d = 0.20)
#   1 - tanh(0.4)  = 0.6200510377447751     (d = 0.04)
#   1 - tanh(0.3)  = 0.7086873875484091     (d = 0.03)
#   1 - tanh(0.2)  = 0.802624679775096      (d = 0.02)
#   1 - tanh(0.15) = 0.851114966376682      (d = 0.015)
#   1 - tanh(0.1)  = 0.9003320053750442     (d = 0.01)
#   1 - tanh(0)    = 1
# Ramps with H = 0.08: v11 lift = 2 (z - 0.015) / 0.065, v19 lift = 4 (z - 0.015) / 0.065
#   + 2 min(1, (z - 0.04) / 0.04) if z > 0.04.
# Each row: id, info, expected total for v11, v19, sparse.
ROWS = [
    # far: reach only. v11 = v19 = 1 - tanh(2) (r_g < 0.7, so v19 uses r_g alone).
    ("far", make_info(tool=(0.2, 0.0, 0.0)), 0.0359724199241831, 0.0359724199241831, 0.0),
    # near but r_g = 1 - tanh(0.4) = 0.62 < 0.7: v19 ignores the (nearer) moving pad.
    ("near_below_blend", make_info(tool=(0.04, 0.0, 0.0), pad=(0.0, 0.01, 0.0)),
     0.6200510377447751, 0.6200510377447751, 0.0),
    # near, gripper open: r_g = 0.802624679775096 >= 0.7, r_m = 1 - tanh(0.3) = 0.7086873875484091,
    # v19 = (0.802624679775096 + 0.7086873875484091) / 2 = 0.7556560336617526.
    ("near_open", make_info(tool=(0.02, 0.0, 0.0), pad=(0.0, 0.03, 0.0)),
     0.802624679775096, 0.7556560336617526, 0.0),
    # just above the blend point: r_g = 1 - tanh(0.3) = 0.7086873875484091 >= 0.7, pad 0.01 away:
    # v19 = (0.7086873875484091 + 0.9003320053750442) / 2 = 0.8045096964617267.
    ("near_blend_edge", make_info(tool=(0.03, 0.0, 0.0), pad=(0.0, 0.01, 0.0)),
     0.7086873875484091, 0.8045096964617267, 0.0),
    # near, gripper closed: r_m = 1, v19 = (0.802624679775096 + 1) / 2 = 0.901312339887548.
    ("near_closed", make_info(tool=(0.02, 0.0, 0.0), pad=(0.0, 0.03, 0.0), closed=True),
     0.802624679775096, 0.901312339887548, 0.0),
    # touching, open, not grasping: d = 0; pad 0.015 from centre: v19 = (1 + 0.851114966376682) / 2.
    ("touching", make_info(), 1.0, 0.9255574831883411, 0.0),
    # grasped on the table, z = 0.015: ramps are 0, z is not > 0.02.
    # v11 = 1 + 0.25 = 1.25; v19 = 1 (closed) + 1.5 = 2.5.
    ("grasped_low", make_info(closed=True, grasping=True), 1.25, 2.5, 0.0),
    # z = 0.03: v11 = 1 + 0.25 + 2*0.015/0.065 (= 6/13) + 1 = 2.7115384615384617;
    # v19 = 1 + 1.5 + 4*0.015/0.065 (= 12/13) + 1 = 4.423076923076923.
    ("grasped_z0.03", make_info(0.03, closed=True, grasping=True), 2.7115384615384617, 4.423076923076923, 0.0),
    # z = 0.05: v11 = 1 + 0.25 + 14/13 + 1 = 3.3269230769230766 (no smoothing: 0.05 <= 0.06);
    # v19 = 1 + 1.5 + 28/13 + 2*(0.01/0.04) + 1 = 80/13 = 6.153846153846154.
    ("grasped_z0.05", make_info(0.05, closed=True, grasping=True), 3.3269230769230766, 6.153846153846154, 0.0),
    # z = 0.07 (< H): v11 = 1 + 0.25 + 22/13 + 1 - 0.01*0.25 = 3.9398076923076926;
    # v19 = 1 + 1.5 + 44/13 + 2*(0.03/0.04) + 1 = 109/13 = 8.384615384615385 (no hold/smooth: z <= H).
    ("grasped_z0.07", make_info(0.07, closed=True, grasping=True), 3.9398076923076926, 8.384615384615385, 0.0),
    # Strict inequalities at their boundaries. z = 0.02 exactly, grasping: no off-table bonus.
    # v11 = 1 + 0.25 + 2*0.005/0.065 (= 2/13) = 1.4038461538461537; v19 = 1 + 1.5 + 4/13 = 2.8076923076923075.
    ("grasped_z0.02", make_info(0.02, closed=True, grasping=True), 1.4038461538461537, 2.8076923076923075, 0.0),
    # z = H exactly, grasping (not lifted, hold 0): no above-H bonus, hold or v19 smoothing.
    # v11 = 1 + 0.25 + 2 + 1 - 0.0025 (z > 0.06) = 4.2475; v19 = 1 + 1.5 + 4 + 2 + 1 = 9.5.
    ("grasped_at_H", make_info(0.08, closed=True, grasping=True), 4.2475, 9.5, 0.0),
    # z = 0.10 > H, closed but not grasping (one pad), hold_count 0:
    # v11 = 1 + 1 + 1 - 0.0025 = 2.9975 (v11's height bonuses need no grasp);
    # v19 = 1 + 1 (z > H) + 0.5*0 = 2.0 (no off-table bonus without grasp, no smoothing at hold 0).
    ("above_H_hold0", make_info(0.10, closed=True), 2.9975, 2.0, 0.0),
    # z = 0.10, grasping, hold_count 1: v11 = 1 + 0.25 + 2*0.085/0.065 (= 34/13) + 2 - 0.0025
    # = 5.862884615384615; v19 = 1 + 1.5 + 68/13 + 2 (capped) + 2 + 0.5*1 - 0.02*0.25 = 12.22576923076923.
    ("above_H_hold1", make_info(0.10, closed=True, grasping=True, hold=1), 5.862884615384615, 12.22576923076923, 0.0),
    # hold 10: v11 unchanged (never pays for holding); v19 + 0.5*9 = 16.72576923076923.
    ("above_H_hold10", make_info(0.10, closed=True, grasping=True, hold=10), 5.862884615384615, 16.72576923076923, 0.0),
    # hold 149: v19 = 12.22576923076923 + 0.5*148 = 86.22576923076923.
    ("above_H_hold149", make_info(0.10, closed=True, grasping=True, hold=149), 5.862884615384615, 86.22576923076923, 0.0),
    # success at hold 150: v11 = 5.862884615384615 + 10; v19 = 12.22576923076923 + 0.5*149 + 10.
    ("success", make_info(0.10, closed=True, grasping=True, hold=150, success=True),
     15.862884615384615, 96.72576923076923, 1.0),
    # dropped at z = 0.05: grasp lost, gripper open, tool 0.01 above, pad 0.02 away.
    # v11 = 0.9003320053750442 - 2 + 1 (z > 0.02) = -0.0996679946249558;
    # v19 = (0.9003320053750442 + 0.802624679775096) / 2 - 2 = -1.14852165742493.
    ("dropped", make_info(0.05, tool=(0.0, 0.0, 0.01), pad=(0.0, 0.02, 0.0), was_grasping=True),
     -0.0996679946249558, -1.14852165742493, 0.0),
    # pushed down to z = 0.005: -50*(0.01 - 0.005) = -0.25.
    # v11 = 0.9003320053750442 - 0.25 = 0.6503320053750442; v19 = 0.85147834257507 - 0.25 = 0.60147834257507.
    ("pushed_down", make_info(0.005, tool=(0.0, 0.0, 0.01), pad=(0.0, 0.02, 0.0)),
     0.6503320053750442, 0.60147834257507, 0.0),
    # pushed just below the threshold, z = 0.009: -50*(0.01 - 0.009) = -0.05.
    # v11 = 0.9003320053750442 - 0.05 = 0.8503320053750442; v19 = 0.85147834257507 - 0.05 = 0.80147834257507.
    ("pushed_down_slightly", make_info(0.009, tool=(0.0, 0.0, 0.01), pad=(0.0, 0.02, 0.0)),
     0.8503320053750442, 0.80147834257507, 0.0),
]
VERSIONS = ("v11", "v19", "sparse")
GOLDEN = [
    pytest.param(version, info, expected[i], id=f"{version}-{row_id}")
    for row_id, info, *expected in ROWS
    for i, version in enumerate(VERSIONS)
]


@pytest.mark.parametrize("version, info, expected", GOLDEN)
def test_golden_total(version, info, expected):
    assert get_reward(version).fn(info).total == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("version, info, expected", GOLDEN)
def test_terms_add_up_to_total(version, info, expected):
    result = get_reward(version).fn(info)
    assert tuple(result.terms) == TERMS
    assert result.total == sum(result.terms.values())
    assert all(type(v) is float for v in result.terms.values())


def _row(row_id):
    return next(info for rid, info, *_ in ROWS if rid == row_id)


@pytest.mark.parametrize(
    "version, row_id, expected_terms",
    [
        # v11 pays height without a grasp and never pays for holding.
        ("v11", "above_H_hold0", {"height": 2.0, "hold": 0.0, "smooth": -0.0025, "grasp": 0.0}),
        ("v11", "above_H_hold149", {"hold": 0.0, "lift": 2.6153846153846154}),  # 34/13, uncapped
        # v19: both grasped ramps are in ``lift`` (44/13 + 1.5); step bonuses in ``height``.
        ("v19", "grasped_z0.07", {"lift": 4.884615384615385, "height": 1.0, "grasp": 1.5, "hold": 0.0}),
        ("v19", "above_H_hold10", {"hold": 5.0, "smooth": -0.005, "height": 2.0, "lift": 7.230769230769231}),
        ("v19", "dropped", {"drop": -2.0, "height": 0.0, "lift": 0.0}),
        ("v19", "pushed_down", {"push_down": -0.25}),
        ("sparse", "success", {"success": 1.0, "reach": 0.0, "hold": 0.0}),
    ],
)
def test_golden_terms(version, row_id, expected_terms):
    terms = get_reward(version).fn(_row(row_id)).terms
    for name, value in expected_terms.items():
        assert terms[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


# What every run and snapshot so far recorded. The fingerprint covers the shared info reading
# (base.read_step) too, so even a speed-up there that computes the same numbers changes it and
# makes every recorded run warn on resume and eval: a new behaviour needs a new version name.
RECORDED_FINGERPRINTS = {"sparse": "e79269533c387f61", "v11": "3eccb0e26795a5ca", "v19": "9a7f550948c43d11",
                         "v20": "ef10fa4f2b77e5a3"}


@pytest.mark.parametrize("version", sorted(RECORDED_FINGERPRINTS))
def test_registered_versions_keep_the_fingerprints_runs_recorded(version):
    assert fingerprint(version) == RECORDED_FINGERPRINTS[version], (
        f"{version}'s definition changed (its module or rewards/base.py): recorded runs would no longer match")


def test_changed_constant_breaks_golden_and_fingerprint(monkeypatch):
    info = _row("grasped_low")
    before = fingerprint("v19")
    assert get_reward("v19").fn(info).total == pytest.approx(2.5, rel=1e-9)

    monkeypatch.setattr(v19_module, "GRASP_BONUS", 1.6)
    assert get_reward("v19").fn(info).total != pytest.approx(2.5, rel=1e-9)
    assert fingerprint("v19") != before

    monkeypatch.undo()
    assert fingerprint("v19") == before


def test_changed_v11_threshold_changes_fingerprint(monkeypatch):
    before = fingerprint("v11")
    monkeypatch.setattr(v11_module, "SMOOTH_Z", 0.05)
    assert fingerprint("v11") != before


_TEMPLATE = '''
NAME = "vtest"
SCALE = 2.0

def reward(info):
    return {expr}
'''


def _load_version(tmp_path, monkeypatch, stem, expr):
    path = tmp_path / f"{stem}.py"
    path.write_text(_TEMPLATE.format(expr=expr))
    spec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, stem, module)
    spec.loader.exec_module(module)
    return RewardVersion("vtest", module.reward, "test")


def test_changed_code_changes_fingerprint(tmp_path, monkeypatch):
    a = _load_version(tmp_path, monkeypatch, "reward_edit_a", "SCALE * 1")
    b = _load_version(tmp_path, monkeypatch, "reward_edit_b", "SCALE * 1")
    c = _load_version(tmp_path, monkeypatch, "reward_edit_c", "SCALE * 2")
    assert a.fingerprint == b.fingerprint  # same code and constants, different file: same meaning
    assert a.fingerprint != c.fingerprint


def test_fingerprint_stable_and_distinct():
    prints = {name: fingerprint(name) for name in known_versions()}
    assert prints == {name: fingerprint(name) for name in known_versions()}
    assert len(set(prints.values())) == len(prints)
    for value in prints.values():
        assert len(value) == 16 and int(value, 16) >= 0
    assert get_reward("v19").fingerprint == prints["v19"]


@pytest.mark.slow
def test_fingerprint_same_in_a_fresh_process_and_import_is_light():
    code = (
        "import json, sys; from liftrl.rewards import fingerprint, known_versions; "
        "print(json.dumps({'fp': {n: fingerprint(n) for n in known_versions()}, "
        "'heavy': [m for m in ('torch', 'mujoco') if m in sys.modules]}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REWARDS_DIR.parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["fp"] == {name: fingerprint(name) for name in known_versions()}
    assert data["heavy"] == []


def test_reward_modules_import_nothing_heavy():
    forbidden = ("torch", "mujoco", "liftrl.sim", "liftrl.agents", "liftrl.train")
    for path in REWARDS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (path.name, name)


def test_unknown_version_lists_known_and_suggests():
    with pytest.raises(KeyError) as exc:
        get_reward("v91")
    assert isinstance(exc.value, UnknownRewardError)
    message = str(exc.value)
    for name in known_versions():
        assert repr(name) in message or name in message
    assert "did you mean 'v19'" in message


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("key", REQUIRED_INFO_KEYS)
def test_missing_info_key_names_key_and_version(version, key):
    info = make_info()
    del info[key]
    with pytest.raises(KeyError) as exc:
        get_reward(version).fn(info)
    assert repr(key) in str(exc.value) and repr(version) in str(exc.value)


@pytest.mark.parametrize(
    "change, error",
    [
        ({"cube_pos": np.array([0.25, 0.0])}, ValueError),
        ({"tool_pos": np.array([0.25, np.nan, 0.015])}, ValueError),
        ({"action": np.zeros(3)}, ValueError),
        ({"is_grasping": "False"}, TypeError),
        ({"hold_count": -1}, ValueError),
        ({"hold_count": 1.5}, ValueError),
        ({"lift_height": float("nan")}, ValueError),
        ({"grasp_lost": True}, ValueError),  # was_grasping is False: inconsistent
    ],
)
def test_bad_info_is_rejected(change, error):
    for version in VERSIONS:
        with pytest.raises(error):
            get_reward(version).fn({**make_info(), **change})


def test_lift_height_too_low_for_the_ramps():
    with pytest.raises(ValueError):
        get_reward("v19").fn({**make_info(), "lift_height": 0.04})
    with pytest.raises(ValueError):
        get_reward("v11").fn({**make_info(), "lift_height": 0.015})


def test_numpy_bools_and_ints_are_accepted():
    info = {**make_info(0.10, closed=True, grasping=True, hold=10)}
    info.update(is_grasping=np.bool_(True), was_grasping=np.bool_(True), hold_count=np.int64(10))
    assert get_reward("v19").fn(info).total == pytest.approx(16.72576923076923, rel=1e-9)


def test_check_fingerprint_warns_on_mismatch_only():
    current = fingerprint("v19")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_fingerprint("v19", current)
    with pytest.warns(RewardVersionChangedWarning) as record:
        check_fingerprint("v19", "0123456789abcdef")
    message = str(record[0].message)
    assert "'v19'" in message and "0123456789abcdef" in message and current in message


def test_duplicate_registration_raises():
    with pytest.raises(DuplicateRewardError):
        register(RewardVersion("v19", v19_module.reward, "again"))
    with pytest.raises(ValueError):  # a copied module whose NAME was not updated
        RewardVersion("v20", v19_module.reward)


def test_result_total_must_be_sum_of_terms():
    terms = dict.fromkeys(TERMS, 0.0)
    terms["reach"] = 0.5
    assert RewardResult.from_terms(terms).total == 0.5
    with pytest.raises(ValueError):
        RewardResult(total=1.0, terms=dict(RewardResult.from_terms(terms).terms))
    with pytest.raises(ValueError):
        RewardResult.from_terms({"reach": 0.5})


def test_episode_term_sums():
    results = [get_reward("v19").fn(_row(r)) for r in ("above_H_hold1", "above_H_hold10", "success")]
    sums = episode_term_sums(results)
    assert tuple(sums) == TERMS
    assert sums["hold"] == pytest.approx(0.5 + 5.0 + 75.0, rel=1e-12)
    assert sums["success"] == 10.0
    assert sum(sums.values()) == pytest.approx(sum(r.total for r in results), rel=1e-12)
    assert episode_term_sums([]) == dict.fromkeys(TERMS, 0.0)

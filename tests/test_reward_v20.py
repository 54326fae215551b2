"""Reward v20: hand-worked golden values, its per-tick bound, grasp gating, and phase ordering.

Expected totals are literals worked out by hand from the formula in ``liftrl/rewards/v20.py``
(tanh values in the comments), never computed by the code under test. H = lift_height = 0.08.
"""

from __future__ import annotations

import numpy as np
import pytest

from liftrl.rewards import TERMS, fingerprint, get_reward
from liftrl.scripted import ScriptedGrasp
from liftrl.sim.env import LiftCubeEnv

CUBE_XY = (0.25, 0.0)


def info_at(z=0.015, tool=(0.0, 0.0, 0.0), *, grasping=False, was_grasping=None, hold=0, success=False):
    cube = np.array([*CUBE_XY, z])
    was = grasping if was_grasping is None else was_grasping
    return {"tool_pos": cube + np.array(tool), "cube_pos": cube, "moving_pad_pos": cube + np.array([0.0, 0.015, 0.0]),
            "gripper_closed": grasping, "is_grasping": grasping, "was_grasping": was, "grasp_lost": was and not grasping,
            "hold_count": hold, "is_success": success, "action": np.array([0.5, 0.0, 0.0, -1.0]),
            "prev_action": np.zeros(4), "lift_height": 0.08}


#   1 - tanh(2.0) = 0.0359724199241831 (d = 0.20);  1 - tanh(0.1) = 0.9003320053750442 (d = 0.01)
#   lift ramp: (z - 0.015) / 0.065, capped at 1
GOLDEN = [
    ("far", info_at(tool=(0.2, 0.0, 0.0)), 0.0359724199241831),
    ("touching", info_at(), 1.0),
    # grasped on the table: 1 + 0.5 + 0
    ("grasped_low", info_at(grasping=True), 1.5),
    # z = 0.05: 1 + 0.5 + 0.035 / 0.065 (= 7/13)
    ("grasped_z0.05", info_at(0.05, grasping=True), 2.0384615384615383),
    # z = H exactly: the ramp is full (1), no height/hold (strictly above H only): 1 + 0.5 + 1
    ("grasped_at_H", info_at(0.08, grasping=True), 2.5),
    # z = 0.10 > H: ramp capped at 1, + 0.5 height + 1 hold: 1 + 0.5 + 1 + 0.5 + 1
    ("held_z0.10", info_at(0.10, grasping=True, hold=1), 4.0),
    # z = 0.30: the same (no pay for lifting higher)
    ("held_z0.30", info_at(0.30, grasping=True, hold=100), 4.0),
    ("success", info_at(0.10, grasping=True, hold=150, success=True), 14.0),
    # tipped onto an edge, centre at 2.1 cm, not grasped, tool 1 cm away: reach only
    ("tipped_ungrasped", info_at(0.021, tool=(0.0, 0.0, 0.01)), 0.9003320053750442),
    # high but not grasped (balanced on a jaw): reach only
    ("high_ungrasped", info_at(0.10), 1.0),
    # dropped at z = 0.05 with the tool 1 cm above: 0.9003320053750442 - 2
    ("dropped", info_at(0.05, tool=(0.0, 0.0, 0.01), was_grasping=True), -1.0996679946249558),
    # pushed to z = 0.005: -50 * 0.005 = -0.25
    ("pushed_down", info_at(0.005, tool=(0.0, 0.0, 0.01)), 0.6503320053750442),
    # pushed to z = -0.01: -50 * 0.02 = -1.0, capped at -0.5
    ("pushed_hard", info_at(-0.01, tool=(0.0, 0.0, 0.01)), 0.4003320053750442),
]


@pytest.mark.parametrize("row_id, info, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_v20_golden_total(row_id, info, expected):
    result = get_reward("v20").fn(info)
    assert result.total == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert tuple(result.terms) == TERMS and result.total == sum(result.terms.values())


def test_v20_tipped_cube_earns_no_height_or_lift():
    for row in ("tipped_ungrasped", "high_ungrasped"):
        terms = get_reward("v20").fn(next(g[1] for g in GOLDEN if g[0] == row)).terms
        assert terms["height"] == terms["lift"] == terms["hold"] == terms["grasp"] == 0.0, row


def test_v20_is_bounded_per_tick():
    version = get_reward("v20")
    assert version.step_bound == 14.0
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3000):
        grasping, was = bool(rng.integers(2)), bool(rng.integers(2))
        hold = int(rng.integers(0, 400))
        info = info_at(float(rng.uniform(-0.05, 0.5)), tuple(rng.uniform(-0.3, 0.3, 3)), grasping=grasping,
                       was_grasping=was, hold=hold, success=bool(grasping and hold >= 150))
        worst = max(worst, abs(version.fn(info).total))
    assert worst <= version.step_bound
    for name in ("v11", "v19"):  # their ramps are uncapped: no bound to promise
        assert get_reward(name).step_bound is None


def test_v20_has_its_own_fingerprint():
    assert fingerprint("v20") not in {fingerprint(n) for n in ("v11", "v19", "sparse")}


def _phase(info) -> str:
    if info["hold_count"] > 0:
        return "hold"
    if info["is_grasping"]:
        return "lift" if info["cube_pos"][2] > 0.02 else "grasp"
    return "reach"


def test_v20_pays_more_in_each_later_phase_of_a_scripted_rollout():
    """reach < grasp < lift < hold per step, on a real grasp-lift-hold episode (not hand-made infos)."""
    env = LiftCubeEnv(curriculum_stage=3, hold_steps=30, max_episode_steps=120, observations=("state",),
                      reward="v20", render_mode=None, randomize=False)
    _, info = env.reset(seed=3)
    policy, done = ScriptedGrasp(), False
    per_phase: dict[str, list[float]] = {"reach": [], "grasp": [], "lift": [], "hold": []}
    while not done:
        _, r, term, trunc, info = env.step(policy.act(info))
        done = term or trunc
        if not info["is_success"] and not info["grasp_lost"]:
            per_phase[_phase(info)].append(r)
    env.close()
    assert info["is_success"]
    means = [np.mean(per_phase[p]) for p in ("reach", "grasp", "lift", "hold")]
    assert all(len(per_phase[p]) > 0 for p in per_phase), {p: len(v) for p, v in per_phase.items()}
    assert means == sorted(means) and len(set(means)) == 4, means
    assert max(per_phase["reach"]) < min(per_phase["lift"]) and max(per_phase["lift"]) < min(per_phase["hold"])

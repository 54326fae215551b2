"""``liftrl stress``: the suite's conditions change the scene, the dry run uses them, the report's figures."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from liftrl.agents import SACConfig, make_agent
from liftrl.config import EnvConfig
from liftrl.deploy import stress, stress_report
from liftrl.deploy.bundle import export_snapshot, load_bundle
from liftrl.deploy.cli_commands import add_stress_parser
from liftrl.deploy.dryrun import run_deploy
from liftrl.deploy.sim_robot import SimRobot
from liftrl.deploy.stress_suite import (DEFAULT_SUITE, GROUPS, Condition, SuiteError, check_suite, condition_env,
                                        load_suite, select)
from liftrl.run.envs import make_task_env
from liftrl.run.snapshot import RUN_SNAPSHOT_FORMAT
from liftrl.train.scoring import wilson_interval, wilson_lower_bound

torch.set_num_threads(1)
BASE = EnvConfig(curriculum_stage=3, observations=("pixels", "state"), image_size=48, frame_stack=2,
                 control_hz=15.0, latency_ms=100.0)


# ---------------------------------------------------------------------------------------------- Wilson
# Worked by hand: p = k/n, z = 1.96, d = 1 + z^2/n, c = p + z^2/(2n), m = z sqrt(p(1-p)/n + z^2/(4n^2)),
# interval ((c - m)/d, (c + m)/d). E.g. 5/10: d = 1.38416, c = 0.69208, m = 1.96 * sqrt(0.034604) = 0.364601.
@pytest.mark.parametrize("k,n,lo,hi", [
    (0, 10, 0.0, 0.277540),
    (5, 10, 0.236590, 0.763410),
    (10, 10, 0.722460, 1.0),
    (47, 50, 0.837827, 0.979385),
    (0, 0, 0.0, 1.0),
])
def test_wilson_interval_hand_worked(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=2e-6)
    assert wilson_lower_bound(k, n) == pytest.approx(lo if n else 0.0, abs=2e-6)


# ---------------------------------------------------------------------------------------------- the suite
def test_default_suite_is_valid_covers_every_group_and_names_are_unique():
    check_suite(DEFAULT_SUITE, BASE)
    assert {c.group for c in DEFAULT_SUITE} == set(GROUPS)


def test_a_bad_condition_is_refused_naming_condition_and_key():
    bad = DEFAULT_SUITE + (Condition("table", "plaid", {"table_texture": ["plaid"]}),)
    with pytest.raises(SuiteError, match=r"table/plaid.*env\.table_texture"):
        check_suite(bad, BASE)
    with pytest.raises(SuiteError, match=r"table/x.*unknown config key .env.tabel_rgb.*did you mean .env.table_rgb."):
        condition_env(BASE, Condition("table", "x", {"tabel_rgb": [1, 1, 1]}))
    with pytest.raises(SuiteError, match="unknown group"):
        check_suite((Condition("weather", "rain"),), BASE)
    with pytest.raises(SuiteError, match=r"--only: unknown group\(s\) \['tabel'\]"):
        select(DEFAULT_SUITE, ["tabel"])


def test_only_keeps_the_baseline_and_the_named_groups():
    chosen = select(DEFAULT_SUITE, ["cube_size", "latency"])
    assert {c.group for c in chosen} == {"baseline", "cube_size", "latency"}


def test_suite_from_yaml(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("- {group: baseline, name: baseline}\n- group: table\n  name: white\n"
                    "  overrides: {table_texture: [flat], table_rgb: [0.9, 0.9, 0.9]}\n")
    suite = load_suite(path)
    assert suite[1].overrides["table_rgb"] == [0.9, 0.9, 0.9]
    check_suite(suite, BASE)
    path.write_text("- {group: table}\n")
    with pytest.raises(SuiteError, match="condition 0 must be a mapping of group, name"):
        load_suite(path)


# ---------------------------------------------------------------------------------------------- they change the scene
def _first(env_cfg: EnvConfig, seed: int = 1_500_000_003):
    env = make_task_env(env_cfg)
    _, info = env.reset(seed=seed)
    frame = env.render_wrist().astype(np.int16)
    model = env.model
    values = {"mass": float(model.body_mass[env.ids.cube_body]), "kp": model.actuator_gainprm[env.ids.actuators, 0].copy(),
              "pads": model.geom_friction[list(env.ids.pads), 0].copy(), "priority": int(model.geom_priority[env.ids.cube_geom]),
              "friction": float(model.geom_friction[env.ids.cube_geom, 0])}
    env.close()
    return frame, info, values


VISUAL = ("lighting", "table", "cube", "camera", "rendering", "cube_size")


@pytest.mark.parametrize("cond", [c for c in DEFAULT_SUITE if c.group in VISUAL + ("start", "physics")],
                         ids=lambda c: c.label)
def test_each_scene_condition_changes_what_the_camera_sees_or_the_physics(cond):
    base_frame, base_info, base_values = _first(BASE)
    frame, info, values = _first(condition_env(BASE, cond))
    if cond.group in VISUAL:
        if frame.shape != base_frame.shape:  # a 640x480 frame: compare what the policy gets from it
            from liftrl.obs.pipeline import CameraSpec, preprocess_frame
            frame = preprocess_frame(frame.astype(np.uint8), CameraSpec(48)).transpose(1, 2, 0).astype(np.int16)
        assert np.abs(frame - base_frame).mean() > 0.3, f"{cond.label} does not change the wrist image"
    elif cond.group == "start":
        assert np.abs(info["cube_pos"][:2] - base_info["cube_pos"][:2]).max() > 0.005
    else:
        assert any(not np.array_equal(np.asarray(values[k]), np.asarray(base_values[k])) for k in values), cond.label


def test_loop_conditions_change_the_loop_options():
    for cond in (c for c in DEFAULT_SUITE if c.group == "latency"):
        env = condition_env(BASE, cond)
        loop = (env.control_hz, env.latency_ms, env.camera_delay_ms, env.camera_noise, env.camera_gain)
        assert loop != (15.0, 100.0, 0.0, 0.0, 0.0), cond.label


def test_image_checks_replace_the_frame():
    env = make_task_env(BASE)
    sim = SimRobot(env)
    sim.reset(1_500_000_000)
    own = sim.read().frame
    grey = stress.GreyFrames(sim).read().frame
    assert (grey == stress.GREY).all() and grey.shape == own.shape
    other = stress.OtherEpisodeFrames(BASE)
    robot = other.wrap(sim)
    robot.reset_episode(1_500_000_000)
    assert not np.array_equal(robot.read().frame, own)
    robot.command(sim.joints())
    sim.sleep_until(0.1)
    assert robot.read().timestamp == pytest.approx(0.1) and other.shadow.now() == pytest.approx(0.1)
    other.close()
    env.close()


# ---------------------------------------------------------------------------------------------- the dry run uses them
def tiny_bundle(tmp_path, actor=("state",), scene=None):
    cfg = SACConfig(hidden_dim=16, hidden_layers=2)
    shapes = {"state": (18,)}
    agent = make_agent(cfg, shapes, 4, actor, ("state",), "cpu", seed=0)
    meta = {"format": RUN_SNAPSHOT_FORMAT, "agent": "sac", "env_steps": 10, "reward": {"name": "v11", "fingerprint": "x"},
            "observations": {"actor": list(actor), "critic": ["state"], "shapes": {"state": [18]}},
            "action_dim": 4, "config": {"env": {"curriculum_stage": 3, "hold_steps": 5, "max_episode_steps": 10,
                                                "image_size": 32, "frame_stack": 2, "reward": "v11",
                                                **(scene or {})},
                                        "agent": dataclasses.asdict(cfg)}}
    return export_snapshot({"agent": agent.state_dict()}, meta, tmp_path / "bundle")


def test_dry_run_builds_the_conditions_scene(tmp_path):
    bundle = load_bundle(tiny_bundle(tmp_path))
    seen = {}

    class Spy:  # looks at the dry run's sim once its episode has been reset
        def __init__(self, sim):
            self.sim, self.read, self.command, self.stop = sim, sim.read, sim.command, sim.stop

        def reset_episode(self, seed):
            env = self.sim.env
            seen.update(half=float(env.model.geom_size[env.ids.cube_geom][0]), delay=self.sim.camera_delay_s,
                        texture=env.scene_draw.table_texture, light=env.options.light_rgb)

    cond = Condition("x", "y", {"cube_sizes_mm": [40.0], "table_texture": ["busy"], "light_rgb": [0.8, 0.9, 1.1]})
    env = condition_env(stress.baseline_env(bundle, stress.Baseline(15.0, 100.0)), cond)
    row = run_deploy(bundle, [1_500_000_000], 15.0, 100.0, adapter=Spy, env_options=env, camera_delay_ms=60.0)
    assert row.episodes == 1
    assert seen == {"half": 0.02, "delay": 0.06, "texture": "busy", "light": (0.8, 0.9, 1.1)}


def test_bundle_grasp_rule_reaches_the_dry_run_env(tmp_path):
    path = tiny_bundle(tmp_path)
    spec = json.loads((path / "bundle.json").read_text())
    assert spec["task"]["grasp_rule"] == "jaw_0.45"
    bundle = load_bundle(path)
    assert stress.baseline_env(bundle, stress.Baseline(15.0, 100.0)).grasp_rule == "jaw_0.45"


def test_the_dry_run_is_in_the_scene_the_bundle_was_trained_in(tmp_path):
    from liftrl.deploy.dryrun import dry_run_rows

    trained = {"cube_sizes_mm": [40.0], "table_texture": ["busy"], "camera_shift_m": 0.0}
    path = tiny_bundle(tmp_path / "a", scene=trained)
    assert json.loads((path / "bundle.json").read_text())["task"]["scene"] == trained
    bundle = load_bundle(path)
    rows = dry_run_rows(bundle, 15.0, 100.0, stress.CameraNoise(std=4.0))
    assert len(rows) == 3 and all(r.env.cube_sizes_mm == (40.0,) and r.env.table_texture == ("busy",)
                                  and r.env.camera_shift_m == 0.0 for r in rows)
    # --env goes over the trained scene, key by key
    over = dry_run_rows(bundle, 15.0, 100.0, scene={"table_texture": ["flat"]})
    assert all(r.env.cube_sizes_mm == (40.0,) and r.env.table_texture == ("flat",) for r in over)
    # --default-scene, and liftrl stress's baseline, are the default scene
    default = EnvConfig()
    for env in [r.env for r in dry_run_rows(bundle, 15.0, 100.0, trained_scene=False)] + \
            [stress.baseline_env(bundle, stress.Baseline(15.0, 100.0))]:
        assert (env.cube_sizes_mm, env.table_texture, env.camera_shift_m) == \
            (default.cube_sizes_mm, default.table_texture, default.camera_shift_m)
    # a run in the default scene records none
    assert load_bundle(tiny_bundle(tmp_path / "b")).task.scene == {}


def test_dry_run_rows_given_no_scene_play_in_the_trained_one(tmp_path, monkeypatch):
    """``run_env`` and ``run_deploy`` without env options (bench scripts, ``--robot sim-lerobot``) build the
    scene the bundle was trained in."""
    import liftrl.deploy.dryrun as dryrun_module

    bundle = load_bundle(tiny_bundle(tmp_path, scene={"cube_sizes_mm": [40.0], "table_texture": ["busy"]}))
    seen = []

    def recording(make):
        def build(env_cfg, *a, **kw):
            seen.append((env_cfg.cube_sizes_mm, env_cfg.table_texture))
            return make(env_cfg, *a, **kw)
        return build

    monkeypatch.setattr(dryrun_module, "make_env", recording(dryrun_module.make_env))
    monkeypatch.setattr(dryrun_module, "make_task_env", recording(dryrun_module.make_task_env))
    dryrun_module.run_env(bundle, [1_500_000_000])
    dryrun_module.run_deploy(bundle, [1_500_000_000], 15.0, 100.0)
    assert seen == [((40.0,), ("busy",))] * 2


@pytest.mark.parametrize("scene,match", [
    ({"cube_sizes_mm": [5.0]}, r"task\.scene.*cube_sizes_mm"),
    ({"tabel_texture": ["busy"]}, r"unknown scene option\(s\) \['tabel_texture'\]"),
    ({"grasp_rule": "cube_width"}, r"unknown scene option\(s\) \['grasp_rule'\]"),
    (["cube_sizes_mm"], "task.scene must be a mapping"),
])
def test_a_bad_trained_scene_in_bundle_json_is_refused_by_name(tmp_path, scene, match):
    from liftrl.deploy.bundle import BundleError

    path = tiny_bundle(tmp_path)
    spec = json.loads((path / "bundle.json").read_text())
    spec["task"]["scene"] = scene
    (path / "bundle.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=match):
        load_bundle(path)


def test_a_bundle_trained_narrower_than_the_default_scene_says_what_the_real_table_needs():
    from liftrl.deploy.spec import TaskSpec

    def needs(scene):
        return TaskSpec(curriculum_stage=5, hold_steps=150, lift_height=0.08, max_episode_steps=400,
                        scene=scene).real_scene_needs()

    assert needs({}) == [] and needs({"table_texture": ["busy"], "camera_shift_m": 0.04}) == []
    one = needs({"cube_sizes_mm": [30.0], "camera_shift_m": 0.005})
    assert one[0].startswith("a cube of 30 mm") and one[1].startswith("the wrist camera within +-5 mm per axis of "
                                                                       "the model's mount")
    assert needs({"cube_sizes_mm": [28.0, 32.0]})[0].startswith("a cube of 28-32 mm")
    assert "moved by [0.0, 0.01, 0.0] m" in needs({"camera_offset_m": [0.0, 0.01, 0.0]})[0]


def test_the_measured_camera_mount_is_held_against_the_one_trained():
    from liftrl.deploy.spec import TaskSpec

    def note(scene, measured):
        return TaskSpec(curriculum_stage=5, hold_steps=150, lift_height=0.08, max_episode_steps=400,
                        scene=scene).mount_note(measured)

    narrow = {"camera_shift_m": 0.005, "camera_offset_m": [0.004, 0.0, 0.0]}
    assert note(narrow, (0.008, 0.002, -0.003)).startswith("measured camera mount (+8.0, +2.0, -3.0) mm: within "
                                                           "the trained +-5 mm of (+4.0, +0.0, +0.0) mm")
    far = note(narrow, (0.012, 0.0, 0.0))
    assert "is 8.0 mm outside the trained +-5 mm" in far and "env.camera_offset_m=[0.0120, 0.0000, 0.0000]" in far
    assert "within the trained +-25 mm" in note({}, (0.02, -0.02, 0.0))  # the default scene's wide mount
    assert note(narrow, None).startswith("camera mount not measured (liftrl bringup --camera-mount)")


def test_the_dry_run_says_which_scene_it_is_in():
    from liftrl.deploy.dryrun import scene_line

    assert scene_line({}, {}, False) == "scene: the default scene"
    assert scene_line({"cube_sizes_mm": [30.0]}, {}, False) == \
        "scene: the scene it was trained in (cube_sizes_mm=[30.0])"
    assert scene_line({"cube_sizes_mm": [30.0]}, {"headlight": 0.5}, True) == \
        "scene: the default scene, with --env headlight=0.5"
    with pytest.raises(ValueError, match="--default-scene"):
        _deploy_cli(["deploy", "nowhere", "--robot", "so101", "--default-scene", "--port", "x"])


def _cli(argv):
    p = argparse.ArgumentParser(prog="liftrl")
    add_stress_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("workers", ["0", pytest.param("2", marks=pytest.mark.slow)])  # 2: a spawned pool
def test_stress_cli_end_to_end(tmp_path, capsys, workers):
    path = tiny_bundle(tmp_path)
    out = tmp_path / "report"
    assert _cli(["stress", str(path), "--episodes", "2", "--only", "cube_size,image", "--workers", workers,
                 "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "stress.json").read_text())
    labels = [f"{c['group']}/{c['name']}" for c in report["conditions"]]
    assert labels == ["baseline/baseline", "image/grey frames", "image/another episode's frames",
                      "cube_size/20 mm", "cube_size/40 mm", "cube_size/40 mm, cube_width rule"]
    assert all(c["episodes"] == 2 and c["wilson_95"] == list(wilson_interval(c["successes"], 2))
               for c in report["conditions"])
    assert str(tmp_path) not in (out / "stress.json").read_text()  # no machine paths in a committable report
    assert "## cube_size" in (out / "stress.md").read_text() and (out / "stress.png").stat().st_size > 1000
    assert "weakest conditions:" in capsys.readouterr().out


def test_stress_cli_refuses_bad_input(tmp_path):
    path = tiny_bundle(tmp_path)
    with pytest.raises(SuiteError, match="unknown group"):
        _cli(["stress", str(path), "--only", "weather"])
    with pytest.raises(ValueError, match="--episodes"):
        _cli(["stress", str(path), "--episodes", "0"])


# ---------------------------------------------------------------------------------------------- the report
def _result(group, name, k, n, image=""):
    return stress.ConditionResult(group, name, {"x": 1}, image, k, n, 0)


def test_report_weakest_and_image_leak():
    results = [_result("baseline", "baseline", 9, 10), _result("image", "grey frames", 5, 10, "grey"),
               _result("table", "busy", 2, 10), _result("table", "white", 6, 10), _result("cube", "grey", 2, 9)]
    assert [r.label for r in stress_report.weakest(results, 2)] == ["table/busy", "cube/grey"]
    md = stress_report.to_markdown("b", stress.Baseline(15.0, 100.0), 10, results)
    assert "| busy | 2/10 (20%) | 6%-51% | -70 pts |" in md
    assert "Image checks above 10%" in md and "grey frames 50%" in md


# ---------------------------------------------------------------------------------------------- the dry run's --env
def _deploy_cli(argv):
    from liftrl.deploy.cli_commands import add_deploy_parser

    p = argparse.ArgumentParser(prog="liftrl")
    add_deploy_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


@pytest.mark.slow
def test_dry_run_takes_scene_options_and_names_a_bad_one(tmp_path, capsys):
    from liftrl.config import ConfigError
    from liftrl.deploy.dryrun import env_config

    path = tiny_bundle(tmp_path)
    bundle = load_bundle(path)
    env = env_config(bundle, {"table_texture": ["busy"], "cube_sizes_mm": [40]})
    assert env.table_texture == ("busy",) and env.cube_sizes_mm == (40.0,) and env.hold_steps == 5
    with pytest.raises(ConfigError, match=r"env\.table_texture"):
        _deploy_cli(["deploy", str(path), "--env", "table_texture=[plaid]", "--episodes", "1"])
    with pytest.raises(ConfigError, match=r"\['latency_ms'\] belong to the loop"):
        env_config(bundle, {"latency_ms": 50})
    with pytest.raises(ValueError, match="--env and --camera-delay-ms are for the dry run"):
        _deploy_cli(["deploy", str(path), "--robot", "so101", "--env", "headlight=0", "--port", "x"])
    assert _deploy_cli(["deploy", str(path), "--env", "cube_sizes_mm=[40]", "--env", "headlight=0.5",
                        "--camera-delay-ms", "60", "--episodes", "1"]) == 0
    assert "| deploy loop on SimRobot | 15 | 100 |" in capsys.readouterr().out


def test_sim_robot_camera_delay_returns_the_frame_that_old():
    env = make_task_env(BASE)
    late = SimRobot(env, camera_delay_s=0.1)
    late.reset(1_500_000_001)
    late.command(late.joints() + np.array([0.3, -0.2, 0.2, 0.0, 0.0, 0.0]))
    frames = {}
    for t in (0.1, 0.2, 0.3):
        late.sleep_until(t)
        frames[t] = env.render_wrist().copy()
    reading = late.read()
    assert reading.timestamp == pytest.approx(0.3) and reading.frame_timestamp == pytest.approx(0.2)
    np.testing.assert_array_equal(reading.frame, frames[0.2])
    assert not np.array_equal(frames[0.2], frames[0.3])
    env.close()


# A valid, non-default value for every scene option: all of them at once must reach the dry run's env.
GOOD_VALUES = {
    "light_scale": (0.4, 0.6), "ambient_scale": (0.5, 0.6), "light_rgb": (0.8, 0.9, 1.1), "light_rgb_jitter": 0.1,
    "light_shift_m": 0.1, "headlight": 0.5, "headlight_scale": (0.2, 0.8), "table_texture": ("busy", "noise"),
    "table_rgb": (0.9, 0.9, 0.9),
    "table_rgb_jitter": 0.1, "cube_sizes_mm": (40.0,), "cube_saturation": (0.1, 0.2), "cube_value": (0.3, 0.4),
    "cube_rgb": (0.1, 0.2, 0.3), "cube_table_colour": 0.5, "cube_mass_kg": (0.05, 0.06), "cube_friction": (0.3, 0.4),
    "cube_friction_governs": True, "cube_xy_spread": 0.03, "cube_xy_offset": (0.01, 0.0), "camera_shift_m": 0.01,
    "camera_offset_m": (0.0, 0.01, 0.0), "camera_tilt_deg": 3.0, "camera_rotation_deg": (2.0, 0.0, 0.0),
    "mesh_quality": "full", "shadows": True, "msaa": 2, "camera_resolution": (64, 48), "pad_friction": (0.6, 0.8),
    "floor_friction": (0.7, 0.9), "servo_kp_scale": (0.9, 1.1), "grasp_rule": "cube_width",
}


def test_every_scene_option_reaches_the_dry_run_env(tmp_path, monkeypatch):
    import liftrl.deploy.dryrun as dryrun_module
    from liftrl.sim.scene_options import SceneOptions

    assert set(GOOD_VALUES) == {f.name for f in dataclasses.fields(SceneOptions)}
    assert all(GOOD_VALUES[k] != getattr(SceneOptions(), k) for k in GOOD_VALUES)
    bundle = load_bundle(tiny_bundle(tmp_path))
    seen = []

    def recording(make):
        def build(env_cfg, *a, **kw):
            env = make(env_cfg, *a, **kw)
            seen.append(env.unwrapped.options)
            return env
        return build

    monkeypatch.setattr(dryrun_module, "make_env", recording(dryrun_module.make_env))
    monkeypatch.setattr(dryrun_module, "make_task_env", recording(dryrun_module.make_task_env))
    dryrun_module.dry_run(bundle, 15.0, 100.0, 1, scene=GOOD_VALUES)
    assert len(seen) == 3  # the training-loop row and both deploy-loop rows
    assert all(getattr(opts, k) == v for opts in seen for k, v in GOOD_VALUES.items())

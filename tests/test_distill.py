"""Distillation (DAgger) end to end at tiny size: run folder, labels, beta, aggregation, exact resume."""

from pathlib import Path

import numpy as np
import pytest
import torch

from liftrl.cli import main
from liftrl.config import ConfigError, load_config
from liftrl.distill.dagger import beta_schedule, choose_driver, mix, round_of
from liftrl.distill.loop import build_distiller, distill, resolve_config, resume_distill
from liftrl.distill.teacher import load_teacher, resolve_snapshot
from liftrl.run.folder import new_run_dir
from liftrl.run.snapshot import load_snapshot
from liftrl.train.loop import train
from liftrl.train.trainer import Trainer
from liftrl.train.metrics import TIMING_KEYS, read_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STUDENT = str(CONFIGS / "student.yaml")
# Seconds, not learning: 16x16 frames, a 4-channel encoder, 2 envs, 2 rounds of 40 steps.
TINY = ["env.image_size=16", "env.num_envs=2", "env.num_workers=1", "env.curriculum_stage=1", "env.hold_steps=5",
        "env.max_episode_steps=30", "agent.encoder_channels=4", "agent.feature_dim=8", "agent.hidden_dim=16",
        "agent.batch_size=16", "distill.rounds=2", "distill.steps_per_round=40", "distill.updates_per_round=5",
        "train.eval_episodes=2", "train.progress=false", "train.device=cpu", "train.video_episodes=0",
        "replay.capacity=400"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A tiny SAC run whose actor reads state and the cube position: any such run can teach."""
    root = tmp_path_factory.mktemp("teacher")
    return train(str(CONFIGS / "tiny_sac.yaml"),
                 ["obs.actor=[state,privileged]", "obs.allow_privileged_actor=true", "train.total_env_steps=100",
                  "env.control_hz=15", "env.latency_ms=100",
                  "train.eval_every=100", "train.snapshot_every=100", "train.eval_episodes=2",
                  "train.video_episodes=0", "train.progress=false"], run_root=str(root))


def test_student_config_refuses_privileged_even_with_the_opt_out():
    for extra in ([], ["obs.allow_privileged_actor=true"]):
        with pytest.raises(ConfigError, match="student must run on the real arm"):
            load_config(STUDENT, ["obs.actor=[pixels,state,privileged]", *extra])
    with pytest.raises(ConfigError, match="student has no critic"):
        load_config(STUDENT, ["obs.critic=[privileged]"])
    with pytest.raises(ConfigError, match="distill"):
        load_config(str(CONFIGS / "tiny_sac.yaml"), ["distill.rounds=3"])


@pytest.mark.parametrize("text, betas", [
    ("linear(1.0,0.0,3)", [1.0, 2 / 3, 1 / 3, 0.0, 0.0]),
    ("const(0.5)", [0.5] * 5),
    ("step_linear(1.0,0.5,1,0.0,2)", [1.0, 0.5, 0.25, 0.0, 0.0]),
])
def test_beta_schedule_by_round(text, betas):
    beta = beta_schedule(text)
    assert [beta(r) for r in range(5)] == pytest.approx(betas)
    assert [round_of(s, 40) for s in (0, 39, 40, 79, 80)] == [0, 0, 1, 1, 2]


def test_beta_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="outside"):
        beta_schedule("linear(2.0,0.0,3)")(0)
    with pytest.raises(ConfigError, match="beta_schedule"):
        load_config(STUDENT, ["distill.beta_schedule=linear(1.5,0.0,3)"])


def test_who_drives_follows_beta():
    rng = np.random.default_rng(0)
    assert choose_driver(1.0, 8, rng).all() and not choose_driver(0.0, 8, rng).any()
    frac = np.mean([choose_driver(0.25, 100, rng).mean() for _ in range(40)])
    assert abs(frac - 0.25) < 0.03
    teacher, student = np.ones((3, 4), np.float32), -np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(mix(teacher, student, np.array([True, False, True]))[:, 0], [1, -1, 1])


def _distiller(teacher_run: Path, tmp_path: Path, extra: list[str]) -> Trainer:
    cfg = load_config(STUDENT, [*TINY, *extra, f"distill.teacher={teacher_run}"])
    teacher = load_teacher(teacher_run, resolve_snapshot(teacher_run, "best").name)
    cfg = resolve_config(cfg, teacher)
    return build_distiller(cfg, new_run_dir(tmp_path, "distill"), teacher)


@pytest.mark.slow
def test_labels_are_the_teachers_deterministic_action_on_the_same_step(teacher_run, tmp_path):
    """Half the steps are driven by the student, yet every stored action is the teacher's action for
    that very observation (state + privileged of the same step), recomputed here from the buffer."""
    d = _distiller(teacher_run, tmp_path, ["distill.beta_schedule=0.5", "agent.aux_cube_weight=1.0"])
    try:
        fresh = load_teacher(teacher_run, d.cfg.distill.teacher_snapshot)
        for _ in range(15):  # within round 0 (20 vector steps)
            obs = {k: v.copy() for k, v in d.obs.items()}
            d.step()
            np.testing.assert_array_equal(d.collector.acting.labels, fresh.act(obs))  # from this very step's observation
        drove = d.collector.acting.round_counts
        assert 0 < drove["teacher_steps"] < drove["steps"], "with beta 0.5 both must drive some steps"
        assert {"pixels", "state", "last_actions", "privileged"} == set(d.replay.specs)  # student + teacher keys
        batch = d.replay.sample(64)
        np.testing.assert_allclose(batch["action"], fresh.act(batch["obs"]), atol=1e-6)
    finally:
        d.close()


@pytest.mark.slow
def test_aggregation_keeps_every_round_and_each_frame_once(teacher_run, tmp_path):
    d = _distiller(teacher_run, tmp_path, [])
    try:
        per_env = d.cfg.distill.steps_per_round // d.num_envs
        sizes = []
        for _ in range(2):
            for _ in range(per_env):
                d.step()
            sizes.append(d.replay.adds)
        assert sizes == [per_env, 2 * per_env]  # round 2 adds to round 1's data, nothing is replaced
        # One slot per visited observation (each step's next obs plus one per episode start), each
        # holding a single 3-channel frame, not the 3-frame stack the policy sees.
        c, h, w = d.env.single_observation_space["pixels"].shape
        assert d.replay._frames.shape[2:] == (3, h, w) and c == 3 * d.cfg.env.frame_stack
        started = d.episodes + sum(s.length > 0 for s in d.tracker.stats)  # episodes with a stored step
        assert int(d.replay._written.sum()) == 2 * per_env * d.num_envs + started
        assert d.updates == 2 * d.cfg.distill.updates_per_round
    finally:
        d.close()


@pytest.fixture(scope="module")
def distilled(teacher_run, tmp_path_factory):
    """A student distilled through the CLI, with the auxiliary cube head on (it must not be exported)."""
    root = tmp_path_factory.mktemp("distill")
    assert main(["distill", str(teacher_run), STUDENT, *TINY, "train.video_episodes=1", "agent.aux_cube_weight=0.5",
                 "--runs", str(root)]) == 0
    (run,) = (root / "distill").iterdir()
    return run


@pytest.mark.slow
def test_distill_cli_writes_a_run_folder_that_report_and_compare_read(distilled, teacher_run, tmp_path):
    run = distilled
    cfg = load_config(str(run / "config.yaml"))
    assert cfg.distill.teacher == str(teacher_run) and cfg.distill.teacher_snapshot.startswith("step_")
    # the student's keys and the teacher's, computed by one env
    assert set(cfg.env.observations) == {"pixels", "state", "last_actions", "privileged"}
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["kind"] for r in rows if r["kind"] == "teacher"] == ["teacher"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [40, 80]  # one evaluation per round
    trains = [r for r in rows if r["kind"] == "train"]
    assert [r["train/beta"] for r in trains] == pytest.approx([1.0, 2 / 3])
    assert [r["train/labelled_frames"] for r in trains] == [40, 80]
    assert all(r["train/aux_loss"] > 0 for r in trains)
    assert (run / "snapshots" / "best.pt").is_file() and list((run / "eval_final").glob("*.mp4"))
    assert list((run / "tb").iterdir())
    _, meta = load_snapshot(run / "snapshots" / "latest.pt")
    assert meta["agent"] == "student" and meta["teacher"]["snapshot"] == cfg.distill.teacher_snapshot
    assert main(["report", str(run), "--out", str(tmp_path / "report.png")]) == 0
    assert main(["compare", str(run), str(teacher_run), "--out", str(tmp_path / "cmp.png")]) == 0
    assert (tmp_path / "report.png").is_file() and (tmp_path / "cmp.png").is_file()


@pytest.mark.slow
def test_report_of_a_distilled_run_plots_distillation_and_no_empty_panel(distilled, tmp_path, capsys):
    from liftrl.report.history import read_history
    from liftrl.report.plots import report_panels
    from liftrl.run.folder import open_run

    history = read_history(open_run(distilled))
    assert history.teacher is not None and history.teacher.episodes == 2
    page = report_panels("student", history, lift_height=0.08, kind="distill")
    by_title = {p.title: p for p in page.panels}
    assert all(p.series for p in page.panels)  # no "not logged" panel
    assert page.xlabel == "labelled frames (env steps)"
    assert {s.label for s in by_title["action error to the teacher's labels"].series} == {
        "mean squared error", "mean absolute error"}
    drove = by_title["beta and the share the teacher drove"]
    beta, share = drove.series
    assert beta.values == pytest.approx((1.0, 2 / 3)) and beta.steps == share.steps == (40, 80)
    assert share.values[0] == 1.0 and 0 < share.values[1] < 1  # round 0: the teacher drives every step
    assert [label for _, label in by_title["success"].hlines] == [f"teacher {history.teacher.success_rate:.0%}"]
    assert not {"Q values", "critic loss", "actor loss", "exploration: stddev / temperature / entropy",
                "saturated actions (|a| > 0.99)"} & set(by_title)
    assert main(["report", str(distilled), "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "(labelled frames (env steps))" in out and "teacher @ 0" in out


@pytest.mark.slow
def test_student_bundle_passes_its_golden_check_and_runs_in_the_dry_run(distilled, tmp_path):
    from liftrl.deploy.bundle import load_bundle

    out = tmp_path / "bundle"
    assert main(["export", str(distilled), "--out", str(out)]) == 0
    bundle = load_bundle(out, real_arm=True)  # golden actions re-checked; no simulation-only input
    assert bundle.agent == "student" and bundle.policy.keys == ("pixels", "last_actions", "state")
    weights = torch.load(out / "actor.pt", weights_only=True)
    assert not [k for k in weights if not k.startswith(("encoder.", "actor."))]  # the aux head stays behind
    assert main(["deploy", str(out), "--robot", "sim", "--episodes", "1", "--camera-noise", "4",
                 "--camera-gain", "0.2"]) == 0


@pytest.mark.slow
def test_a_student_initialises_drqv2_for_rl_fine_tuning(distilled, tmp_path):
    """train.init_from=RUN: DrQ-v2 starts with the student's encoder and actor, and a fresh critic."""
    sizes = ["env.image_size=16", "env.num_envs=2", "agent.encoder_channels=4", "agent.feature_dim=8",
             "agent.hidden_dim=16", "obs.critic=[pixels,state,privileged]", "train.progress=false",
             "train.total_env_steps=2", "train.video_episodes=0", "train.eval_episodes=1",
             "obs.actor=[pixels,state,last_actions]", "env.action_history=3"]  # the student's inputs
    run = train(str(CONFIGS / "tiny_drqv2.yaml"), [*sizes, f"train.init_from={distilled}"], run_root=str(tmp_path))
    student, _ = load_snapshot(distilled / "snapshots" / "best.pt")
    drqv2, _ = load_snapshot(run / "snapshots" / "latest.pt")
    for part in ("encoder", "actor"):
        for key, value in student["agent"][part].items():
            torch.testing.assert_close(drqv2["agent"][part][key], value, rtol=0, atol=0, msg=f"{part}.{key}")
    assert "critic" in drqv2["agent"] and "aux" not in drqv2["agent"]

    from liftrl.agents import make_agent
    from liftrl.train.init_from import init_actor_from

    cfg = load_config(str(CONFIGS / "tiny_drqv2.yaml"), [*sizes[:4], "agent.hidden_dim=32"])
    shapes = {"pixels": (9, 16, 16), "state": (18,), "privileged": (3,), "last_actions": (12,)}
    agent = make_agent(cfg.agent, shapes, 4, ("pixels", "state", "last_actions"), ("pixels", "state", "privileged"),
                       "cpu")
    with pytest.raises(ValueError, match="hidden_dim"):
        init_actor_from(agent, str(distilled), "best", shapes)


def _agent_tensors(run: Path) -> dict:
    state, _ = load_snapshot(run / "snapshots" / "latest.pt")
    out = {}
    for part in ("encoder", "actor", "opt"):
        stack = [(part, state["agent"][part])]
        while stack:
            name, obj = stack.pop()
            if isinstance(obj, torch.Tensor):
                out[name] = obj
            elif isinstance(obj, dict):
                stack += [(f"{name}/{k}", v) for k, v in obj.items()]
    return out


def test_round_updates_take_the_update_threads_and_acting_gets_its_own_back():
    """The env workers wait while the student learns: the round's updates run on distill.update_threads
    (0: every usable core) and acting returns to train.torch_threads afterwards, even if an update fails."""
    from types import SimpleNamespace

    from liftrl.distill.loop import DaggerLearner
    from liftrl.sim.inprocess import usable_cores

    seen = []

    class Agent:
        batch_size = 4

        def update(self, batch, step):
            seen.append(torch.get_num_threads())
            if batch == "boom":
                raise RuntimeError("update failed")
            return {"train/loss": 0.0}

    acting = SimpleNamespace(round_counts={"teacher_steps": 0, "steps": 1}, beta=lambda r: 0.0)
    replay = SimpleNamespace(sample=lambda n: "batch")
    torch.set_num_threads(1)
    assert DaggerLearner(Agent(), replay, acting, 10, 3, update_threads=3).after_step(10, 2) == 3
    assert seen == [3, 3, 3] and torch.get_num_threads() == 1
    seen.clear()
    DaggerLearner(Agent(), replay, acting, 10, 2).after_step(10, 2)
    assert seen == [usable_cores()] * 2 and torch.get_num_threads() == 1
    with pytest.raises(RuntimeError, match="update failed"):
        DaggerLearner(Agent(), SimpleNamespace(sample=lambda n: "boom"), acting, 10, 2, 2).after_step(10, 2)
    assert torch.get_num_threads() == 1
    for bad in ("-1", "1.5", "true"):
        with pytest.raises(ConfigError, match="distill.update_threads"):
            load_config(STUDENT, [f"distill.update_threads={bad}"])
    with pytest.raises(ConfigError, match="privileged_cube_error_m"):
        load_config(STUDENT, ["env.privileged_cube_error_m=0.01"])
    from liftrl.train.console import Banner, banner_lines

    banner = Banner(run_dir=Path("r"), device="cpu", torch_threads=1, num_envs=4, envs="2 worker process(es)",
                    config="c", command="distill", update_threads=2)
    assert "torch threads: 1 (2 for each round's updates), 4 training envs" in banner_lines(banner)[2]
    same = Banner(run_dir=Path("r"), device="cpu", torch_threads=2, num_envs=4, envs="e", config="c", update_threads=2)
    assert "torch threads: 2, 4 training envs" in banner_lines(same)[2]


# Moved-cube views need cubes resting on the table (stage 3) and the cube in the dataset (the aux target keeps it);
# they are made again on a resume, not saved.
VIEWS = ["env.curriculum_stage=3", "distill.moved_cube_views=12", "agent.aux_cube_weight=0.5"]


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], VIEWS], ids=["plain", "moved_cube_views"])
def test_resume_continues_exactly(teacher_run, tmp_path, extra):
    """2 rounds in one go == 1 round + resume + 1 round: same student weights, same metrics."""
    whole = distill(teacher_run, STUDENT, [*TINY, *extra], run_root=str(tmp_path / "a"))
    half = distill(teacher_run, STUDENT, [*TINY, *extra, "distill.rounds=1"], run_root=str(tmp_path / "b"))
    resume_distill(half, ["distill.rounds=2"])
    views = [r.get("train/moved_cube_views") for r in read_metrics(whole / "metrics.jsonl") if r["kind"] == "train"]
    assert all(v > 0 for v in views) if extra else all(v is None for v in views), views
    wa, wb = _agent_tensors(whole), _agent_tensors(half)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0, msg=key)
    ra = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in read_metrics(whole / "metrics.jsonl")]
    rb = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in read_metrics(half / "metrics.jsonl")]
    assert [(r["step"], r["kind"], sorted(r)) for r in ra] == [(r["step"], r["kind"], sorted(r)) for r in rb]
    for x, y in zip(ra, rb):
        for k in x:  # float sums may round differently in the last digit; everything else is equal
            assert x[k] == (pytest.approx(y[k], rel=1e-6) if isinstance(x[k], float) else y[k]), (x["step"], k)
    with pytest.raises(ValueError, match="only distill.rounds"):
        resume_distill(half, ["agent.lr=0.1"])


@pytest.mark.slow
def test_a_relative_teacher_path_is_stored_resolved_so_resume_works_from_another_directory(teacher_run, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.chdir(teacher_run.parent)
    run = distill(teacher_run.name, STUDENT, [*TINY, "distill.rounds=1"], run_root=str(tmp_path / "runs"))
    assert load_config(str(run / "config.yaml")).distill.teacher == str(teacher_run.resolve())
    monkeypatch.chdir(tmp_path)  # where the relative name means nothing
    resume_distill(run, ["distill.rounds=2"])
    assert max(r["step"] for r in read_metrics(run / "metrics.jsonl")) > 0


@pytest.mark.slow
def test_distill_stops_cleanly_on_sigint_and_holds_its_run_against_a_second_writer(teacher_run, tmp_path):
    """As `liftrl train`: one writer per run, and Ctrl-C saves a snapshot and names the resume command."""
    import re
    import signal

    from cli_run import WAIT_S, run_folder, start_cli, wait_for_rows

    from liftrl.run.lock import RunLocked
    from liftrl.run.snapshot import read_metadata

    proc = start_cli("distill", str(teacher_run), STUDENT, *TINY, "distill.rounds=100000", "--runs", str(tmp_path))
    try:
        run = run_folder(tmp_path, proc)
        wait_for_rows(proc, run, 2)
        with pytest.raises(RunLocked, match="writer"):
            resume_distill(run, ["distill.rounds=100001"])
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:  # a failure above must not leave a 100,000-round run behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    m = re.search(r"^stopped at step (\d+); resume with: liftrl distill --resume (\S+)$", out, re.M)
    assert m, out
    assert Path(m.group(2)) == run
    assert read_metadata(run / "snapshots" / "latest.pt")["env_steps"] == int(m.group(1))


def test_student_regression_fits_labels_and_its_state_round_trips():
    from liftrl.agents.config import StudentConfig
    from liftrl.agents.student import StudentAgent

    cfg = StudentConfig(encoder_channels=4, feature_dim=8, hidden_dim=32, aux_cube_weight=1.0, lr=1e-3)
    shapes = {"pixels": (9, 16, 16), "state": (18,)}
    rng = np.random.default_rng(0)
    obs = {"pixels": rng.integers(0, 256, (16, 9, 16, 16), dtype=np.uint8),
           "state": rng.normal(size=(16, 18)).astype(np.float32),
           "privileged": rng.normal(size=(16, 11)).astype(np.float32)}  # the aux target: its first 3 values
    batch = {"obs": obs, "action": rng.uniform(-0.8, 0.8, (16, 4)).astype(np.float32)}
    student = StudentAgent(cfg, shapes, 4, ("pixels", "state"), seed=1)
    first = student.update(batch, 0)
    for _ in range(150):
        last = student.update(batch, 0)
    assert last["action_mse"] < 0.2 * first["action_mse"] and last["aux_loss"] < first["aux_loss"]
    copy = StudentAgent(cfg, shapes, 4, ("pixels", "state"), seed=2)
    copy.load_state_dict(student.state_dict())
    np.testing.assert_array_equal(copy.act(obs, 0, eval_mode=True), student.act(obs, 0, eval_mode=False))
    with pytest.raises(ValueError, match="real arm"):
        StudentAgent(cfg, {**shapes, "privileged": (11,)}, 4, ("pixels", "privileged"))


@pytest.mark.slow
def test_a_teacher_with_a_roll_needs_an_env_with_one(tmp_path):
    """A 5-D teacher (env.wrist_roll_action) labels 5-D actions: a 4-D student env is refused by name."""
    teacher_run = train(str(CONFIGS / "tiny_sac.yaml"),
                        ["obs.actor=[state,privileged]", "obs.allow_privileged_actor=true", "train.total_env_steps=40",
                         "train.seed_steps=20", "env.num_envs=2", "env.wrist_roll_action=true", "train.eval_every=40",
                         "train.snapshot_every=40", "train.eval_episodes=1", "train.video_episodes=0",
                         "train.progress=false"], run_root=str(tmp_path / "teacher"))
    with pytest.raises(ValueError, match="5-D actions.*wrist_roll_action"):
        _distiller(teacher_run, tmp_path / "four", [])
    _distiller(teacher_run, tmp_path / "five", ["env.wrist_roll_action=true"]).close()

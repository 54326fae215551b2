"""The collapse guard: its decision rule, and a real run that it rolls back after an injected fault."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from liftrl.config import load_config, save_config
from liftrl.run.snapshot import load_snapshot
from liftrl.train.guard import CriticWatch, GuardConfig, q_limit, restore_reason
from liftrl.train.loop import Trainer, new_run_dir, online_parts
from liftrl.train.metrics import read_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BEST = {"success_lcb": 0.7, "env_steps": 100}


def test_q_limit_follows_reward_bound_and_gamma():
    # v20: 14 per tick, 4 ticks per 15 Hz step, scale 0.1, gamma 0.99, factor 2: 2 * 4 * 14 * 0.1 / 0.01
    assert q_limit(14.0, 0.1, 0.99, 4, 2.0) == pytest.approx(1120.0)
    assert q_limit(None, 1.0, 0.99, 1, 2.0) is None  # unbounded reward: only non-finite values count
    assert q_limit(14.0, 1.0, 1.0, 1, 2.0) is None


def test_restore_reason_rules():
    cfg = GuardConfig(lcb_drop=0.35, max_restores=2)
    calm = CriticWatch(q_abs_max=10.0, loss_max=1.0)
    assert restore_reason(cfg, 0.5, BEST, calm, 100.0, 0) is None  # 0.5 >= 0.7 - 0.35
    assert "fell" in restore_reason(cfg, 0.3, BEST, calm, 100.0, 0)
    assert restore_reason(cfg, 0.3, None, calm, 100.0, 0) is None  # nothing to go back to
    assert restore_reason(cfg, 0.3, BEST, calm, 100.0, 2) is None  # restores used up
    assert restore_reason(GuardConfig(enabled=False), 0.0, BEST, calm, 100.0, 0) is None
    assert "|Q|" in restore_reason(cfg, 0.9, BEST, CriticWatch(q_abs_max=101.0), 100.0, 0)
    assert "critic loss" in restore_reason(cfg, 0.9, BEST, CriticWatch(loss_max=2 * 200.0 ** 2 + 1), 100.0, 0)
    watch = CriticWatch()
    watch.observe({"q_min": -1.0, "q_max": math.nan, "critic_loss": 3.0})
    assert "non-finite q_max" in restore_reason(cfg, 0.9, BEST, watch, None, 0)


class FaultyTrainer(Trainer):
    """Scrambles the actor and blows up the critic once, after the first evaluation made a best."""

    fault_at = 200
    injected = False

    def step(self) -> int:
        if not self.injected and self.env_steps >= self.fault_at:
            with torch.no_grad():
                for p in self.agent.actor.parameters():
                    p.copy_(torch.randn_like(p) * 3.0)
                self.agent.critic.q1[-1].weight.mul_(1e7)
                self.agent.critic.q2[-1].weight.mul_(1e7)
            self.injected = True
        return super().step()


@pytest.mark.slow
def test_guard_restores_best_weights_after_injected_fault(tmp_path):
    torch.set_num_threads(1)
    cfg = load_config(CONFIGS / "tiny_sac.yaml", ["env.reward=v20", "train.video_episodes=0",
                                                  "train.guard_lr_scale=0.5"])
    run = new_run_dir(tmp_path, cfg.agent.name)
    save_config(cfg, run / "config.yaml")
    trainer = FaultyTrainer(cfg, online_parts(cfg, run))
    try:
        trainer.run()
    finally:
        trainer.close()
    assert trainer.injected
    rows = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "guard"]
    assert len(rows) == 1 and rows[0]["step"] == 300 and rows[0]["guard/restored_from"] == 150
    assert "|Q|" in rows[0]["guard/reason"] and rows[0]["guard/lr"] == pytest.approx(cfg.agent.lr * 0.5)
    best, _ = load_snapshot(run / "snapshots" / "best.pt")
    latest, meta = load_snapshot(run / "snapshots" / "latest.pt")
    assert meta["env_steps"] == 300  # saved after the restore, so it holds the restored agent
    for role in ("actor", "critic", "critic_target"):
        for name, value in best["agent"][role].items():
            assert torch.equal(latest["agent"][role][name], value), (role, name)
    assert latest["counters"]["guard_restores"] == 1
    assert all(g["lr"] == pytest.approx(cfg.agent.lr * 0.5) for g in latest["agent"]["actor_opt"]["param_groups"])


@pytest.mark.slow
def test_report_marks_guard_restores(tmp_path, capsys):
    import json

    from liftrl.cli import main
    from liftrl.report.plots import report_panels
    from liftrl.report.history import read_history
    from liftrl.run.folder import open_run

    cfg = load_config(CONFIGS / "tiny_sac.yaml")
    run = new_run_dir(tmp_path, cfg.agent.name)
    save_config(cfg, run / "config.yaml")
    rows = [{"step": 100, "kind": "eval", "eval/success_rate": 0.9, "eval/successes": 18, "eval/episodes": 20,
             "eval/reward_mean": 10.0},
            {"step": 200, "kind": "eval", "eval/success_rate": 0.95, "eval/successes": 19, "eval/episodes": 20,
             "eval/reward_mean": 11.0},
            {"step": 200, "kind": "guard", "guard/restored_from": 100, "guard/reason": "|Q| reached 1e9"}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = read_history(open_run(run))
    assert history.best().step == 100  # the eval the guard rolled back is never best
    page = report_panels("r", history)
    assert (200, "guard restore to 100") in page.vlines and (100, "best eval") in page.vlines
    assert main(["report", str(run), "--out", str(tmp_path / "r.png")]) == 0
    assert "collapse guard at 200 env steps: restored the agent of 100" in capsys.readouterr().out

"""Run configs: typed sections, YAML plus dotted overrides, clear refusals, observation roles."""

from pathlib import Path

import pytest
import yaml

from liftrl.agents.config import DrQV2Config, SACConfig
from liftrl.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    save_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_a_complete_pixel_config():
    cfg = load_config()
    assert isinstance(cfg, Config) and isinstance(cfg.agent, DrQV2Config)
    assert cfg.obs.actor == ("pixels", "state")
    # env.observations left empty -> the union of what the two roles read
    assert cfg.env.observations == ("pixels", "state", "privileged")


def test_yaml_and_overrides(tmp_path):
    path = write(tmp_path, "env:\n  num_envs: 4\n  hold_steps: 10\nagent:\n  batch_size: 64\n")
    cfg = load_config(path, ["agent.batch_size=128", "env.hold_steps=50", "env.lift_height=0.1",
                             "train.device=cpu", "agent.stddev_schedule=const(0.2)",
                             "obs.actor=[pixels]", "env.randomize=false"])
    assert cfg.env.num_envs == 4  # from the file
    assert cfg.agent.batch_size == 128 and cfg.env.hold_steps == 50  # overrides win
    assert cfg.env.lift_height == 0.1 and cfg.train.device == "cpu"
    assert cfg.agent.stddev_schedule == "const(0.2)"
    assert cfg.obs.actor == ("pixels",) and cfg.env.randomize is False
    assert isinstance(load_config(None, ["agent.lr=1"]).agent.lr, float)  # int accepted for a float
    assert load_config(None, ["agent.stddev_schedule=0.2"]).agent.stddev_schedule == "0.2"  # number as text


def test_agent_section_follows_agent_name():
    cfg = load_config(None, ["agent.name=sac", "obs.actor=[state]", "obs.critic=[state,privileged]",
                             "agent.init_temperature=0.2"])
    assert isinstance(cfg.agent, SACConfig) and cfg.agent.init_temperature == 0.2
    with pytest.raises(ConfigError, match="unknown config key 'agent.stddev_schedule'"):
        load_config(None, ["agent.name=sac", "obs.actor=[state]", "obs.critic=[state]",
                           "agent.stddev_schedule=const(0.1)"])
    with pytest.raises(ConfigError, match="agent.name.*'sax'.*did you mean 'sac'"):
        load_config(None, ["agent.name=sax"])


@pytest.mark.parametrize("override,named,suggested", [
    ("agent.batchsize=128", "agent.batch_size", None),
    ("env.num_env=4", "env.num_envs", None),
    ("env.hold_step=4", "env.hold_steps", None),
    ("trian.seed=1", "train.seed", None),
    ("replay.capactiy=10", "replay.capacity", None),
])
def test_unknown_key_names_it_and_the_closest_valid_key(override, named, suggested):
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert f"unknown config key {key!r}" in str(err.value)
    assert f"did you mean {named!r}" in str(err.value)


def test_unknown_key_in_a_yaml_file_names_the_file(tmp_path):
    path = write(tmp_path, "train:\n  eval_evry: 10\n")
    with pytest.raises(ConfigError, match=r"'train.eval_evry'.*did you mean 'train.eval_every'.*c.yaml"):
        load_config(path)
    path = write(tmp_path, "enviroment:\n  num_envs: 2\n")
    with pytest.raises(ConfigError, match="unknown config section 'enviroment'.*did you mean 'env'"):
        load_config(path)


@pytest.mark.parametrize("override,expected,given", [
    ("agent.batch_size=abc", "int", "str"),
    ("agent.batch_size=12.5", "int", "float"),
    ("agent.batch_size=true", "int", "bool"),
    ("env.randomize=1", "bool", "int"),
    ("agent.lr=fast", "float", "str"),
    ("obs.actor=pixels", "list of str", "str"),
    ("obs.actor=[true,false]", "list of str", "list"),
    ("env.num_workers=two", "int or null", "str"),
])
def test_wrong_type_names_key_expected_and_given(override, expected, given):
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    message = str(err.value)
    assert repr(key) in message and f"expects {expected}" in message and f"got {given}" in message


@pytest.mark.parametrize("override,problem", [
    ("agent.stddev_schedule=linear(1,0.1)", "agent.stddev_schedule"),
    ("env.reward=v91", "env.reward"),
    ("env.num_envs=0", "env.num_envs"),
    ("agent.gamma=1.5", "agent.gamma"),
    ("train.device=gpu", "train.device"),
    ("obs.critic=[pixels,cube]", "obs.critic"),
    ("obs.actor=[]", "obs.actor"),
    ("batch_size=3", "section.key"),
    ("agent.batch_size", "section.key=value"),
])
def test_bad_values_are_refused_naming_the_key(override, problem):
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        load_config(None, [override])


def test_privileged_actor_refused_with_reason_unless_opted_out_by_name():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["obs.actor=[pixels,state,privileged]"])
    message = str(err.value)
    assert "privileged" in message and "real arm" in message and "obs.allow_privileged_actor" in message
    cfg = load_config(None, ["obs.actor=[pixels,state,privileged]", "obs.allow_privileged_actor=true"])
    assert "privileged" in cfg.obs.actor
    # a privileged critic is fine: the critic never runs on the arm
    assert "privileged" in load_config(None, ["obs.critic=[pixels,privileged]"]).obs.critic


def test_roles_must_be_provided_by_the_env():
    with pytest.raises(ConfigError, match="env.observations"):
        load_config(None, ["env.observations=[pixels,state]"])  # the default critic reads privileged
    cfg = load_config(None, ["env.observations=[pixels,state,privileged]"])
    assert cfg.env.observations == ("pixels", "state", "privileged")


def test_agent_and_roles_must_agree():
    with pytest.raises(ConfigError, match="drqv2 agent learns from pixels"):
        load_config(None, ["obs.actor=[state]"])
    with pytest.raises(ConfigError, match="sac agent learns from low-dimensional keys"):
        load_config(None, ["agent.name=sac"])


def test_override_values_are_yaml_scalars_and_lists():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a.b=3.5") == (["a", "b"], 3.5)
    assert parse_override("a.b=linear(1.0,0.1,500000)") == (["a", "b"], "linear(1.0,0.1,500000)")
    assert parse_override("a.b=[x, y]") == (["a", "b"], ["x", "y"])
    assert parse_override("a.b=") == (["a", "b"], None)
    assert parse_override("a.b=null") == (["a", "b"], None)
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_override("a.b=[x, y")


def test_resolved_yaml_round_trips(tmp_path):
    cfg = load_config(None, ["agent.batch_size=32", "env.num_envs=3", "train.seed=5"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(path) == cfg
    raw = yaml.safe_load(path.read_text())
    assert list(raw) == ["env", "obs", "agent", "replay", "train"]
    assert raw["agent"]["name"] == "drqv2" and raw["env"]["num_envs"] == 3
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load_and_round_trip(tmp_path, name):
    cfg = load_config(CONFIGS / name)
    assert load_config(save_config(cfg, tmp_path / "c.yaml")) == cfg
    # a shipped policy meant for the arm reads only what the arm provides, unless it opts out by name
    assert set(cfg.obs.actor) <= {"pixels", "state", "last_actions"} or cfg.obs.allow_privileged_actor


def test_shipped_configs_hold_the_users_settings():
    assert {"quickstart.yaml", "drqv2_v19.yaml", "sac_v11.yaml", "tiny_sac.yaml", "tiny_drqv2.yaml"} <= set(SHIPPED)
    drq = load_config(CONFIGS / "drqv2_v19.yaml")
    assert (drq.agent.name, drq.env.num_envs, drq.agent.batch_size, drq.env.image_size, drq.env.frame_stack) == \
        ("drqv2", 16, 256, 84, 3)
    assert drq.agent.stddev_schedule == "linear(1.0,0.1,500000)"
    assert (drq.env.curriculum_stage, drq.env.reward, drq.env.hold_steps) == (3, "v19", 150)
    assert drq.obs.actor == ("pixels", "state") and "privileged" in drq.obs.critic
    sac = load_config(CONFIGS / "sac_v11.yaml")
    assert (sac.agent.name, sac.env.curriculum_stage, sac.env.reward, sac.env.hold_steps) == ("sac", 3, "v11", 150)
    assert "pixels" not in sac.env.observations and "privileged" in sac.obs.critic


def test_missing_file_and_non_mapping_yaml(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "env: [unclosed\n"))


@pytest.mark.parametrize("override, message", [("env.control_hz=0", "control_hz"), ("env.control_hz=60", "control_hz"),
                                               ("env.latency_ms=-5", "latency_ms"), ("train.max_minutes=-1", "max_minutes")])
def test_rate_latency_and_budget_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_curriculum_mix_is_checked_and_reaches_only_the_training_envs():
    from liftrl.run.envs import env_options

    with pytest.raises(ConfigError, match="curriculum_mix"):
        load_config(None, ["env.curriculum_mix=[0,1]"])
    cfg = load_config(None, ["env.curriculum_mix=[0,0.5,0,0.5,0]", "env.curriculum_stage=3"])
    assert env_options(cfg.env, training=True).curriculum_mix == (0, 0.5, 0, 0.5, 0)
    assert env_options(cfg.env).curriculum_mix == ()  # evaluation measures curriculum_stage alone
    assert env_options(cfg.env).curriculum_stage == 3


@pytest.mark.parametrize("override, message", [
    ("env.curriculum_stage=7", "unknown curriculum_stage 7"), ("env.num_workers=-1", "num_workers"),
    ("env.lift_height=-1", "lift_height"), ("agent.lr=-1", "agent.lr"), ("agent.reward_scale=0", "reward_scale"),
])
def test_values_the_env_or_agent_would_reject_fail_at_load_time(override, message):
    """Not later, inside a spawned worker, as a traceback."""
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize("override, message", [
    ("env.image_size=8", r"config key 'env\.image_size': image_size must be an integer in 16\.\.512, got 8"),
    ("env.frame_stack=0", r"config key 'env\.frame_stack'"),
    ("env.hold_steps=0", r"config key 'env\.hold_steps'"),
    ("env.observations=[pixels,depth]", r"config key 'env\.observations'.*depth"),
])
def test_env_options_are_checked_at_load_by_the_env_own_rules(override, message):
    """The env's own check (liftrl.sim.options) runs when the config loads, naming the key, not in a worker."""
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])

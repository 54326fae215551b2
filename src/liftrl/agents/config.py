"""Hyper-parameters of each agent, as frozen dataclasses.

They live beside the agents (not in ``liftrl.config``) so an agent can be built and tested with
nothing but its own config; ``liftrl.config`` composes them into a run's config.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrQV2Config:
    """DrQ-v2 (Yarats et al. 2021) defaults for the 'medium' DMC setting, batch as the user ran it."""

    name: str = "drqv2"
    # Adam learning rate of actor, critic and encoder.
    lr: float = 1e-4
    # Network sizes: the trunk's feature width, the MLP width, the conv encoder's channels and layers.
    feature_dim: int = 50
    hidden_dim: int = 1024
    encoder_channels: int = 32
    encoder_layers: int = 4
    # The encoder's head: 0 flattens the last conv map (DrQ-v2's); K > 0 gives K learnt keypoints,
    # each the expected (x, y) of a softmax over one map (liftrl.agents.networks.SpatialSoftmax).
    encoder_keypoints: int = 0
    # Soft target update rate, discount, and the n of n-step TD targets.
    critic_target_tau: float = 0.01
    gamma: float = 0.99
    n_step: int = 3
    batch_size: int = 256
    # Exploration noise std as a schedule of the env step, and the clip of the target policy's noise.
    stddev_schedule: str = "linear(1.0,0.1,500000)"
    stddev_clip: float = 0.3
    # DrQ's random shift: pad by this many pixels, then crop back at a random offset.
    augment_pad: int = 4
    # Updates happen every `update_every_steps` env steps (counted over all envs) and run
    # `updates_per_step` gradient steps each time.
    update_every_steps: int = 2
    updates_per_step: int = 1
    # Concatenate the low-dimensional inputs (state, privileged) to the image features.
    fuse_state: bool = True
    # Rewards are multiplied by this in the TD target (logged returns are not). v19 pays up to
    # 0.5 * 150 per step for holding, so unscaled Q values reach thousands; the critic's
    # gradients then swamp the encoder and the actor saturates (seen at stage 1 without scaling:
    # bench/results/learn_pixels_stage1_unscaled.json, docs/results.md). DrQ-v2's defaults were
    # tuned for rewards <= 1 per step.
    reward_scale: float = 1.0


@dataclass(frozen=True)
class SACConfig:
    """SAC (Haarnoja et al. 2018) with learned temperature, for low-dimensional observations."""

    name: str = "sac"
    # Adam learning rate of actor, critics and temperature.
    lr: float = 3e-4
    # MLP width and depth of actor and critics.
    hidden_dim: int = 256
    hidden_layers: int = 2
    # Soft target update rate, discount, and the n of n-step TD targets.
    critic_target_tau: float = 0.005
    gamma: float = 0.99
    n_step: int = 1
    batch_size: int = 256
    # Starting entropy temperature alpha (learned from there).
    init_temperature: float = 0.1
    # None -> -action_dim, the usual heuristic.
    target_entropy: float | None = None
    # As DrQ-v2's; the actor (and temperature) update every actor_update_every critic updates.
    update_every_steps: int = 1
    updates_per_step: int = 1
    actor_update_every: int = 1
    # Rewards are multiplied by this in the TD target (logged returns are not).
    reward_scale: float = 1.0
    # Diagnostics (losses, Q statistics, grad norms) from every k-th update only: gathering them is
    # a dozen small ops and a copy per update, several percent of a small MLP's update on a CPU.
    # The logged values are then means over every k-th update of the log interval.
    diagnostics_every: int = 10
    # Options against collapse, all off by default (the configs trained before them stay as they were):
    # LayerNorm after each hidden layer of the critic and the actor;
    layer_norm: bool = False
    # a floor under the entropy temperature alpha (0: none), so exploration never dies out while the
    # critic is still wrong;
    alpha_min: float = 0.0
    # clip each update's gradient to this global L2 norm, critic and actor separately (0: no clipping).
    grad_clip: float = 0.0


@dataclass(frozen=True)
class StudentConfig:
    """A pixel student trained by regression on a teacher's actions (``liftrl distill``).

    Its network is DrQ-v2's actor (encoder + trunk + MLP head) with the same size keys, so a
    student snapshot can initialise ``agent.name=drqv2`` (``train.init_from``) when the sizes agree.
    """

    name: str = "student"
    # Adam learning rate of the regression.
    lr: float = 3e-4
    # Network sizes, as DrQ-v2's actor (a DrQ-v2 run with the same sizes can start from a student).
    feature_dim: int = 50
    hidden_dim: int = 256
    encoder_channels: int = 32
    encoder_layers: int = 4
    # The encoder's head, as DrQ-v2's: 0 flattens the last conv map; K > 0 gives K learnt keypoints
    # (expected image positions; they find a small cube in a wide view with far fewer labels).
    encoder_keypoints: int = 0
    batch_size: int = 128
    # DrQ's random shift augmentation, as DrQ-v2.
    augment_pad: int = 4
    # As DrQ-v2: concatenate the low-dimensional inputs (state, last actions) after the trunk.
    fuse_state: bool = True
    # Weight of an auxiliary loss predicting where the cube is from the tool point (privileged's cube
    # centre minus state's tool point, in decimetres) from the image features alone; training only
    # (the head is not part of the actor and is dropped at export) unless aux_feeds_actor. 0: no head.
    aux_cube_weight: float = 0.0
    # With aux_cube_weight > 0: the cube guess becomes an input of the actor (a head inside the
    # encoder, exported with it) instead of a training signal only. Why it was tried: a pick student
    # whose guess was right within 1 cm still overshot the cube (docs/pick.md, "Student"). Measured
    # on two seeds it did no better than the training-only head, so it is off by default. The guess
    # comes from pixels only, so the image checks keep their meaning.
    aux_feeds_actor: bool = False
    # The axes of that guess: "world" (the table's x, y, z) or "gripper" (the end effector's own axes;
    # the wrist camera is fixed to it, so both turn with the wrist roll and the base pan). The image alone
    # shows the cube in the camera's axes: a world-axis target asks the pixels for the arm's heading
    # too, which only the joint state knows (docs/pick.md, "The cube guess's axes").
    aux_cube_frame: str = "world"


AUX_CUBE_FRAMES = ("world", "gripper")  # agent.aux_cube_frame's choices

AGENT_CONFIGS: dict[str, type] = {"drqv2": DrQV2Config, "sac": SACConfig, "student": StudentConfig}

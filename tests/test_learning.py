"""Tier 3: a seeded, deterministic training run that must learn (not timed)."""
import pytest

from trpo.cli import train_main

pytestmark = pytest.mark.learning


def test_default_training_improves_the_100_episode_average(tmp_path):
    history = train_main(["--max_iter_num", "30", "--seed", "500", "--logdir", str(tmp_path / "logs"),
                         "--save_path", str(tmp_path / "m")]).history
    first, last = history[0].avg100, history[-1].avg100  # 11 episodes after one batch; the last 100 after 30
    assert len(history) == 30 and history[-1].total_steps == 30 * 2200
    assert last > first + 250, (first, last)  # seen: -1571 -> -1015


def test_cartpole_learns_with_the_categorical_policy_under_both_presets(tmp_path):
    """A Discrete action space through the same six steps: the slides' algorithm and the tuned preset."""
    for preset, budget, least in (("slides", ["--max_iter_num", "12"], 100), ("tuned", ["--max_env_steps", "30000"], 150)):
        history = train_main(["--env_name", "CartPole-v1", "--preset", preset, *budget, "--seed", "500", "--quiet",
                              "--logdir", str(tmp_path / "logs"), "--save_path", str(tmp_path / preset)]).history
        first, last = history[0].avg100, history[-1].avg100  # seen: slides 21.0 -> 190.9, tuned 21.0 -> 256.3
        assert last > least > first + 50, (preset, first, last)

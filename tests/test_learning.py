"""Tier 3: a seeded, deterministic training run that must learn (not timed)."""
from trpo.cli import train_main


def test_default_training_improves_the_100_episode_average(tmp_path):
    history = train_main(["--max_iter_num", "30", "--seed", "500", "--logdir", str(tmp_path / "logs"),
                         "--save_path", str(tmp_path / "m")]).history
    first, last = history[0].avg100, history[-1].avg100  # 11 episodes after one batch; the last 100 after 30
    assert len(history) == 30 and history[-1].total_steps == 30 * 2200
    assert last > first + 250, (first, last)  # seen: -1571 -> -1015

"""Tier 3: a seeded, deterministic training run that must learn (not timed)."""
import train as train_script


def test_default_training_improves_the_100_episode_average(tmp_path):
    history = train_script.main(["--max_iter_num", "30", "--seed", "500", "--logdir", str(tmp_path / "logs"),
                                 "--save_path", str(tmp_path / "m")])
    first, last = history[0][1], history[-1][1]  # 11 episodes after one batch; the last 100 after 30
    assert len(history) == 30 and history[-1][0] == 30 * 2200
    assert last > first + 250, (first, last)  # seen: -1571 -> -1015

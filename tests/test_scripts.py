"""Tier 2: train.py and test.py as a user runs them; files, logs and one-line errors."""
import itertools
import os
import shutil
import subprocess
import sys
import time

import imageio
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trpo
import trpo.trainer
from trpo.cli import test_main as run_test_py, train_main
from trpo.checkpoint import load_policy, save_policy
from trpo.model import Actor
from trpo.presets import preset_values

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "trpo", "pretrained", "Pendulum-v1.pth")


def run(script, *args, env=None, timeout=120, cwd=ROOT):
    """Run a script as a user would (in cwd, the checkout by default); returns (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True,
                       text=True, cwd=cwd, env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(code, err, *words):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]


def test_smoke_train_writes_model_and_one_log_folder_per_run(tmp_path):
    args = ["--max_iter_num", "2", "--save_path", str(tmp_path / "m"), "--logdir", str(tmp_path / "logs")]
    history = train_main(args).history
    train_main([*args, "--overwrite"])  # the same flags again: a second run, in a log folder of its own
    runs = sorted(os.listdir(tmp_path / "logs"))
    assert len(runs) == 2 and runs[0].startswith("Pendulum-v1_seed500_")
    ea = EventAccumulator(str(tmp_path / "logs" / runs[0])).Reload()
    scalars = set(ea.Tags()["scalars"])
    assert {"log/score", "log/episode_return", "log/avg100", "loss/critic", "trpo/kl", "trpo/step_fraction",
            "trpo/surrogate_improvement", "trpo/skipped", "policy/std", "time/steps_per_second"} <= scalars
    assert [e.step for e in ea.Scalars("log/score")] == list(range(1, 23))  # every episode, x = episode
    # x = environment steps done when the episode ended: 11 environments end their episodes together
    assert [e.step for e in ea.Scalars("log/episode_return")] == [2200] * 11 + [4400] * 11
    assert [e.step for e in ea.Scalars("log/avg100")] == [2200, 4400]  # x = environment steps
    assert [h.total_steps for h in history] == [2200, 4400]
    assert [e.value for e in ea.Scalars("policy/std")] == [1.0, 1.0]  # the slides' fixed std, exp(0)
    actor, info = load_policy(str(tmp_path / "m" / "model.pth"))
    assert (info["env_name"], info["state_size"], info["action_size"]) == ("Pendulum-v1", 3, 1)


def test_a_skipped_update_is_warned_about_and_logged(tmp_path, monkeypatch, capsys):
    real, calls = trpo.trainer.train_model, itertools.count()

    def skip_the_second(*args, **kwargs):
        info = real(*args, **kwargs)
        return info._replace(skipped="s^T H s = nan is not positive and finite") if next(calls) == 1 else info

    monkeypatch.setattr(trpo.trainer, "train_model", skip_the_second)
    train_main(["--max_iter_num", "3", "--save_path", str(tmp_path / "m"), "--logdir", str(tmp_path / "l")])
    err = capsys.readouterr().err
    assert err.strip() == "warning: iteration 1: policy update skipped: s^T H s = nan is not positive and finite"
    ea = EventAccumulator(str(tmp_path / "l" / os.listdir(tmp_path / "l")[0])).Reload()
    assert [(e.step, e.value) for e in ea.Scalars("trpo/skipped")] == [(2200, 0.0), (4400, 1.0), (6600, 0.0)]


def test_save_load_gives_the_same_actions(tmp_path):
    torch.manual_seed(0)
    actor = Actor(3, 1, 16)
    save_policy(str(tmp_path / "model.pth"), actor, "Pendulum-v1", 3, 1, 16)
    loaded, _ = load_policy(str(tmp_path / "model.pth"))
    x = torch.randn(50, 3)
    assert torch.equal(actor(x)[0], loaded(x)[0])


def test_shipped_model_scores_above_goal(capsys):
    scores = run_test_py(["--load_model", SHIPPED, "--episodes", "10"])
    assert np.mean(scores) > -300
    assert "mean" in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.parametrize("env_name, bar", [("Hopper-v5", 3000), ("HalfCheetah-v5", 4000), ("InvertedPendulum-v5", 950),
                                           ("Ant-v5", 1300), ("Swimmer-v5", 200), ("Reacher-v5", -6),
                                           ("InvertedDoublePendulum-v5", 9000)])
def test_the_shipped_mujoco_policies_run_and_score(env_name, bar, capsys):
    """trpo/pretrained/<env>.pth: a --preset tuned policy at 1M steps, deterministic, the median of 5 episodes
    (a policy can lose its footing on one start state); test.py finds it by the environment's id."""
    actor, info = load_policy(os.path.join(ROOT, "trpo", "pretrained", f"{env_name}.pth"))
    assert info["env_name"] == env_name
    assert info["actor_options"]["normalize_obs"] == preset_values("tuned", env_name)["normalize_obs"]
    assert np.median(trpo.evaluate(actor, env_name, episodes=5)) > bar
    run_test_py(["--load_model", env_name, "--episodes", "1", "--no-render", "--save_path", "/nonexistent"])
    assert capsys.readouterr().out.startswith(f"loaded {os.path.join(ROOT, 'trpo', 'pretrained', env_name)}.pth")


def test_test_py_runs_the_latest_trained_model_else_the_shipped_one(tmp_path, capsys):
    run_test_py(["--episodes", "1", "--save_path", str(tmp_path)])
    assert capsys.readouterr().out.splitlines()[0] == f"loaded {SHIPPED} (Pendulum-v1)"
    save_policy(str(tmp_path / "model.pth"), Actor(3, 1), "Pendulum-v1", 3, 1, 64)
    run_test_py(["--episodes", "1", "--save_path", str(tmp_path)])
    assert capsys.readouterr().out.splitlines()[0] == f"loaded {tmp_path / 'model.pth'} (Pendulum-v1)"


def test_a_bare_model_name_is_looked_up_in_save_path_as_on_the_slides(tmp_path, capsys):
    """The slides' train.py and test.py join save_model/ with --load_model: 'model.pth' works from anywhere."""
    shutil.copy(SHIPPED, tmp_path / "model.pth")
    run_test_py(["--load_model", "model.pth", "--save_path", str(tmp_path), "--episodes", "1"])
    assert capsys.readouterr().out.splitlines()[0] == f"loaded {tmp_path / 'model.pth'} (Pendulum-v1)"
    with pytest.raises(SystemExit, match="holds model.pth of another run"):  # the new run would replace it
        train_main(["--load_model", "model.pth", "--save_path", str(tmp_path), "--max_iter_num", "1",
                    "--logdir", str(tmp_path / "l")])
    train_main(["--load_model", "model.pth", "--save_path", str(tmp_path), "--max_iter_num", "1",
                "--logdir", str(tmp_path / "l"), "--overwrite"])
    assert f"starting from the actor in {tmp_path / 'model.pth'}" in capsys.readouterr().out
    code, out, err = run("test.py", "--load_model", "nowhere.pth", "--save_path", str(tmp_path))
    assert_one_line_error(code, err, "nowhere.pth", "--save_path")


def headless():
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}


def test_record_writes_a_video_headless(tmp_path):
    code, out, err = run("test.py", "--load_model", SHIPPED, "--episodes", "1", "--record", str(tmp_path / "video"),
                         env=headless())
    assert code == 0, err
    assert err == ""  # no SDL noise (XDG_RUNTIME_DIR) on the console
    videos = [f for f in os.listdir(tmp_path / "video") if f.endswith(".mp4")]
    assert len(videos) == 1
    reader = imageio.v2.get_reader(str(tmp_path / "video" / videos[0]), format="FFMPEG")
    assert reader.count_frames() >= 200  # a frame per step of a 200-step episode
    assert reader.get_data(0).shape == (500, 500, 3)


def test_record_of_a_mujoco_policy_works_headless(tmp_path):
    """No display: MuJoCo renders through EGL (Mesa's software renderer, no GPU needed)."""
    torch.manual_seed(0)
    save_policy(str(tmp_path / "hopper.pth"), Actor(11, 3), "Hopper-v5", 11, 3, 64)
    code, out, err = run("test.py", "--load_model", str(tmp_path / "hopper.pth"), "--episodes", "1",
                         "--record", str(tmp_path / "video"), env=headless())
    assert code == 0, err
    videos = [f for f in os.listdir(tmp_path / "video") if f.endswith(".mp4")]
    reader = imageio.v2.get_reader(str(tmp_path / "video" / videos[0]), format="FFMPEG")
    assert reader.get_data(0).shape == (480, 480, 3)
    frame = reader.get_data(reader.count_frames() - 1)
    assert frame.std() > 10  # a rendered scene, not a blank frame


def test_without_a_display_test_py_runs_headless_and_says_how_to_get_a_window(tmp_path):
    code, out, err = run("test.py", "--load_model", SHIPPED, "--episodes", "1", env=headless())
    assert code == 0, err
    assert "no display" in out and "run where there is a display" in out and "--record" in out


def test_render_without_display_says_so():
    code, out, err = run("test.py", "--load_model", SHIPPED, "--render", "--episodes", "1", env=headless())
    assert_one_line_error(code, err, "display", "--record")


@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xwininfo") is None,
                    reason="Xvfb and xwininfo (Debian: xvfb, x11-utils) are not installed")
def test_test_py_opens_a_real_window_under_xvfb_with_no_flag():
    read, write = os.pipe()  # Xvfb picks a free display and writes its number there: runs side by side never share one
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            display = ":" + f.readline().strip()
        env = dict(os.environ, DISPLAY=display)
        # no --render: with a display test.py shows the episodes, as on the slides
        proc = subprocess.Popen([sys.executable, "test.py", "--load_model", SHIPPED, "--episodes", "1"],
                                cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen, deadline = False, time.monotonic() + 120  # on a busy machine test.py may take a while to start
        while time.monotonic() < deadline:  # then a 200-step episode at 30 fps lasts about 7 s
            tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
            seen = seen or "500x500" in tree  # Pendulum's window is 500 x 500
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert seen, "no 500x500 window appeared on the virtual display"
        assert "mean" in out
    finally:
        xvfb.terminate()
        xvfb.wait()


@pytest.mark.parametrize("args, words", [
    (["--env_name", "NoSuchEnv-v9"], ["NoSuchEnv-v9"]),
    (["--env_name", "FrozenLake-v1"], ["FrozenLake-v1", "Discrete observation space"]),
    (["--env_name", "Blackjack-v1"], ["Blackjack-v1", "Tuple observation space"]),
    (["--max_kl", "0"], ["--max_kl", "positive"]),
    (["--total_sample_size", "-5"], ["--total_sample_size"]),
    (["--hidden_size", "0"], ["--hidden_size"]),
    (["--critic_lr=-1e-3"], ["--critic_lr"]),
    (["--max_kl", "abc"], ["--max_kl", "invalid float"]),
    (["--max_kl", "inf"], ["--max_kl", "positive and finite"]),
    (["--critic_lr", "inf"], ["--critic_lr", "positive and finite"]),
    (["--goal_score", "nan"], ["--goal_score", "inf: train to the end"]),
    (["--seed", "-1"], ["--seed", "[0, 2**32)", "'-1'"]),
    (["--seed", "18446744073709551616"], ["--seed", "[0, 2**32)"]),
    (["--seed", "1.5"], ["--seed", "[0, 2**32)"]),
    (["--log_interval", "0"], ["--log_interval"]),
    (["--gamma", "1.5"], ["--gamma", "(0, 1]"]),
    (["--gamma", "0"], ["--gamma"]),
    (["--load_model", "does/not/exist.pth"], ["does/not/exist.pth", "does not exist"]),
    (["--save_path", "/proc/forbidden"], ["--save_path", "not writable"]),
    (["--preset", "best"], ["--preset", "invalid choice"]),
    (["--gae_lambda", "1.5"], ["--gae_lambda", "[0, 1]"]),
    (["--gae_lambda", "high"], ["--gae_lambda", "'off'"]),
    (["--bootstrap_truncation"], ["--bootstrap_truncation", "--gae_lambda"]),
    (["--critic_epochs", "0"], ["--critic_epochs", "positive"]),
    (["--critic_batch_size", "-64"], ["--critic_batch_size"]),
    (["--critic_hidden_size", "-1"], ["--critic_hidden_size", "--hidden_size"]),
    (["--max_env_steps", "0"], ["--max_env_steps", "positive"]),
    (["--log_std_init", "nan"], ["--log_std_init", "finite"]),
    (["--cg_iters", "0"], ["--cg_iters", "positive"]),
    (["--max_kl_schedule", "linear"], ["--max_kl_schedule", "--max_env_steps"]),
    (["--max_kl_final", "0.02"], ["--max_kl_final", "[0, --max_kl]"]),
    (["--max_kl_final", "0.005"], ["--max_kl_final", "--max_kl_schedule linear"]),
    (["--cg_damping", "-0.1"], ["--cg_damping", ">= 0"]),
    (["--preset", "tuned", "--load_model", SHIPPED], ["--load_model", "--preset"]),
    (["--num_workers", "2"], ["--num_workers", "--sampler ray"]),
    (["--address", "auto"], ["--address", "--sampler ray"]),
    (["--sampler", "ray", "--num_workers", "0"], ["--num_workers", "positive"]),
    (["--sampler", "ray", "--render"], ["--render", "--sampler ray"]),
    (["--sampler", "ray", "--address", "127.0.0.1:1"], ["--address '127.0.0.1:1'", "no Ray cluster answers there"]),
    (["--sampler", "ray", "--address", "10.0.0.5"], ["--address '10.0.0.5'", "'auto' or host:port"]),
    (["--sampler", "ray", "--address", ""], ["--address is empty"]),
    (["--sampler", "ray", "--critic_process", "on"], ["--critic_process on", "--sampler ray"]),
])
def test_train_bad_input_is_one_line_error(tmp_path, args, words):
    defaults = ["--logdir", str(tmp_path / "logs"), "--save_path", str(tmp_path / "m")]
    code, out, err = run("train.py", *defaults, *args)
    assert_one_line_error(code, err, *words)


def test_pendulum_v0_means_v1(tmp_path):
    code, out, err = run("train.py", "--env_name", "Pendulum-v0", "--max_iter_num", "1",
                         "--logdir", str(tmp_path / "l"), "--save_path", str(tmp_path / "m"))
    assert code == 0, err
    assert "Pendulum-v0 is Pendulum-v1" in out


@pytest.mark.parametrize("args, words", [
    (["--seed", "-3"], ["--seed", "[0, 2**32)"]),
    (["--episodes", "0"], ["--episodes", "at least 1"]),
])
def test_test_bad_input_is_one_line_error(args, words):
    code, out, err = run("test.py", *args)
    assert_one_line_error(code, err, *words)


def test_corrupt_and_truncated_models_are_one_line_errors(tmp_path):
    good = tmp_path / "good.pth"
    save_policy(str(good), Actor(3, 1), "Pendulum-v1", 3, 1, 64)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:300])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a model at all")
    for path in (truncated, garbage):
        code, out, err = run("test.py", "--load_model", str(path))
        assert_one_line_error(code, err, str(path), "corrupt")


class Evil:
    """Unpickled, it runs a shell command that creates the file mark."""
    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"touch {self.mark}",))


@pytest.mark.parametrize("script, fmt", [("test.py", "trpo-policy/1"), ("train.py", "trpo-checkpoint/3")])
def test_a_model_or_checkpoint_that_runs_code_when_unpickled_is_refused(tmp_path, script, fmt):
    mark = tmp_path / "evil_pickle_ran"
    path = tmp_path / "evil.pth"
    torch.save({"format": fmt, "payload": Evil(mark)}, str(path))
    code, out, err = run(script, "--load_model", str(path))
    assert_one_line_error(code, err, str(path))
    assert not mark.exists()

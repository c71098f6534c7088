"""Tier 2: checkpoints, resuming, interruption, and the files and flags a resume refuses."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trpo
from trpo.cli import parse_train_args, train_main
from test_scripts import ROOT, assert_one_line_error, run
from trpo import checkpoint as checkpoint_module
from trpo.checkpoint import load_checkpoint, safe_load
from trpo.errors import UserError

pytestmark = pytest.mark.integration


def dirs(tmp_path, name):
    return ["--save_path", str(tmp_path / name / "m"), "--logdir", str(tmp_path / name / "logs")]


def actor_weights(path):
    return safe_load(str(path))["actor"]


def test_six_iterations_then_resume_to_twelve_equals_twelve_straight(tmp_path):
    straight = train_main(["--max_iter_num", "12", *dirs(tmp_path, "a")]).history
    first = train_main(["--max_iter_num", "6", *dirs(tmp_path, "b")]).history
    resumed = train_main(["--load_model", str(tmp_path / "b" / "m" / "checkpoint.pth"), "--max_iter_num", "12"]).history

    a, b = actor_weights(tmp_path / "a" / "m" / "model.pth"), actor_weights(tmp_path / "b" / "m" / "model.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert [h[:3] for h in first + resumed] == [h[:3] for h in straight]  # same iterations, steps, averages
    ckpt = load_checkpoint(str(tmp_path / "b" / "m" / "checkpoint.pth"))
    assert (ckpt["iteration"], ckpt["total_steps"], ckpt["episodes"]) == (12, 12 * 2200, 12 * 11)
    assert len(ckpt["recent_rewards"]) == 100
    runs = os.listdir(tmp_path / "b" / "logs")
    assert len(runs) == 1  # the resumed run logs into the same folder, on the same step axis
    ea = EventAccumulator(str(tmp_path / "b" / "logs" / runs[0])).Reload()
    assert [e.step for e in ea.Scalars("log/avg100")] == [2200 * i for i in range(1, 13)]
    assert [e.step for e in ea.Scalars("log/score")] == list(range(1, 133))


def test_resume_keeps_the_optimizer_state_and_takes_a_new_critic_lr(tmp_path):
    train_main(["--max_iter_num", "2", *dirs(tmp_path, "a")])
    path = str(tmp_path / "a" / "m" / "checkpoint.pth")
    saved = load_checkpoint(path)["critic_optimizer"]
    config = parse_train_args(["--load_model", path, "--critic_lr", "5e-4", "--max_iter_num", "3"])
    assert (config.max_iter_num, config.critic_lr, config.seed, config.num_envs) == (3, 5e-4, 500, 11)
    trpo.train(config)
    after = load_checkpoint(path)["critic_optimizer"]
    # Adam's count went on; each checkpoint holds the last batch's fit as pending (it runs during the next sampling)
    assert int(saved["state"][0]["step"]) == 1 and int(after["state"][0]["step"]) == 2
    assert load_checkpoint(path)["critic_fit"]["pending"] is not None
    assert after["param_groups"][0]["lr"] == 5e-4


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoint.pth")
    checkpoint_module.atomic_save({"format": "old", "x": torch.arange(5)}, path)

    def crash_half_way(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", crash_half_way)
    with pytest.raises(UserError, match="No space left on device.*previous file, if any, is intact"):
        checkpoint_module.atomic_save({"format": "new"}, path)
    assert torch.equal(safe_load(path)["x"], torch.arange(5))
    assert os.listdir(tmp_path) == ["checkpoint.pth"]  # no temporary file left behind


@pytest.mark.parametrize("sig, vector_mode, whole_group", [
    (signal.SIGINT, "async", True),  # Ctrl-C in a terminal reaches the trainer and its env workers
    (signal.SIGTERM, "sync", False),  # kill PID, or a scheduler ending the job
])
def test_a_signal_saves_a_checkpoint_and_exits_promptly_with_a_resume_line(tmp_path, sig, vector_mode, whole_group):
    save = tmp_path / "m"
    proc = subprocess.Popen([sys.executable, "train.py", "--max_iter_num", "100000", "--vector_mode", vector_mode,
                             "--save_path", str(save), "--logdir", str(tmp_path / "logs")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        for _ in range(600):  # wait until one iteration is done
            if os.path.exists(save / "checkpoint.pth") or proc.poll() is not None:
                break
            time.sleep(0.05)
        if whole_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig
    assert seconds < 5
    assert_one_line_error(proc.returncode, err, f"continue with: python train.py --load_model {save}/checkpoint.pth")
    done = load_checkpoint(str(save / "checkpoint.pth"))["iteration"]
    assert done >= 1 and f"stopped after {done} iteration" in out
    assert f"interrupted by" in out and f"({signal.Signals(sig).name}); saved " in out
    assert os.path.exists(save / "model.pth")
    history = train_main(["--load_model", str(save / "checkpoint.pth"), "--max_iter_num", str(done + 1)]).history
    assert [h.total_steps for h in history] == [2200 * (done + 1)]  # the step counter carried on


def test_resume_refuses_flags_that_do_not_fit_the_checkpoint(tmp_path):
    train_main(["--max_iter_num", "2", *dirs(tmp_path, "a")])
    path = str(tmp_path / "a" / "m" / "checkpoint.pth")
    cases = [(["--env_name", "MountainCarContinuous-v0"], ["--env_name", "Pendulum-v1"]),
             (["--hidden_size", "32"], ["--hidden_size", "64"]),
             (["--critic_hidden_size", "32"], ["--critic_hidden_size", "0"]),
             (["--num_envs", "3"], ["--num_envs", "11"]),
             (["--max_iter_num", "2"], ["done 2 iterations", "--max_iter_num"]),
             (["--max_env_steps", "4400"], ["done 4400 environment steps", "--max_env_steps"]),
             (["--goal_score", "-100000"], ["already reached", "--goal_score"])]
    for extra, words in cases:
        code, out, err = run("train.py", "--load_model", path, "--max_iter_num", "5", *extra)
        assert_one_line_error(code, err, path, *words)
    assert load_checkpoint(path)["iteration"] == 2  # refused resumes leave the checkpoint as it was


def test_critic_width_is_its_own_and_a_resume_keeps_it(tmp_path):
    train_main(["--max_iter_num", "1", "--critic_hidden_size", "32", *dirs(tmp_path, "a")])
    path = str(tmp_path / "a" / "m" / "checkpoint.pth")
    ckpt = load_checkpoint(path)
    assert (ckpt["critic"]["fc2.weight"].shape, ckpt["actor"]["fc2.weight"].shape) == ((32, 32), (64, 64))
    train_main(["--load_model", path, "--max_iter_num", "2"])
    assert load_checkpoint(path)["iteration"] == 2
    train_main(["--max_iter_num", "1", *dirs(tmp_path, "b")])  # 0, the default: as wide as the actor
    assert load_checkpoint(str(tmp_path / "b" / "m" / "checkpoint.pth"))["critic"]["fc2.weight"].shape == (64, 64)


def test_damaged_or_foreign_checkpoints_are_one_line_errors(tmp_path):
    train_main(["--max_iter_num", "1", *dirs(tmp_path, "a")])
    good = tmp_path / "a" / "m" / "checkpoint.pth"
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:2000])
    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.zeros(3)}, str(foreign))
    missing_part = tmp_path / "missing_part.pth"
    data = safe_load(str(good))
    del data["rng"]
    torch.save(data, str(missing_part))
    for path, word in ((truncated, "corrupt"), (foreign, "neither"), (missing_part, "damaged")):
        code, out, err = run("train.py", "--load_model", str(path), "--save_path", str(tmp_path / "b"),
                             "--logdir", str(tmp_path / "l"))
        assert_one_line_error(code, err, str(path), word)

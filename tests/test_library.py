"""trpo as a library: TrainConfig, trpo.train, evaluation during training, diagnostics, the console."""
import fcntl
import math
import os
import re
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.distributions import Normal

import trpo
from conftest import explicit_kl_hessian
from test_scripts import ROOT, assert_one_line_error, run
from trpo.checkpoint import load_checkpoint
from trpo.update import Batch, explained_variance

pytestmark = pytest.mark.integration


def config(tmp_path, **changes):
    return trpo.TrainConfig(**{"save_path": str(tmp_path / "m"), "logdir": str(tmp_path / "l"), "quiet": True,
                               **changes})


def scalars(run_dir, tag):
    return [(e.step, e.value) for e in EventAccumulator(run_dir).Reload().Scalars(tag)]


def test_train_returns_the_history_why_it_stopped_and_the_files_it_wrote(tmp_path, capsys):
    result = trpo.train(config(tmp_path, max_iter_num=2, run_name="first"))
    assert result.stop_reason == "max_iter_num"
    assert [(r.iteration, r.total_steps) for r in result.history] == [(1, 2200), (2, 4400)]
    assert result.paths["run_dir"] == str(tmp_path / "l" / "first")
    assert os.path.isfile(result.paths["model"]) and os.path.isfile(result.paths["checkpoint"])
    assert "best_model" not in result.paths
    assert (result.config.gamma, result.config.max_kl, result.config.num_envs) == (0.99, 0.01, 11)  # resolved
    assert capsys.readouterr().out == ""  # quiet
    again = config(tmp_path, max_iter_num=1, run_name="first", save_path=str(tmp_path / "m2"))
    assert trpo.train(again).paths["run_dir"].endswith("first_1")


@pytest.mark.parametrize("changes, words", [
    (dict(max_kl=0), ["max_kl ", "positive"]),
    (dict(max_kl="0.01"), ["max_kl ", "int or float", "str"]),
    (dict(learn_std=1), ["learn_std ", "bool"]),
    (dict(hidden_size=64.0), ["hidden_size ", "int"]),
    (dict(num_envs="many"), ["num_envs ", "'auto'"]),
    (dict(preset="best"), ["preset ", "slides, tuned"]),
    (dict(gamma=1.5), ["gamma ", "(0, 1]"]),
    (dict(eval_interval=-1), ["eval_interval ", "0 (never)"]),
    (dict(run_name="a/b"), ["run_name ", "'/'"]),
    (dict(seed=2 ** 32), ["seed ", "[0, 2**32)"]),
])
def test_a_bad_value_from_python_is_a_user_error_naming_the_field(tmp_path, changes, words):
    with pytest.raises(trpo.UserError) as error:
        trpo.train(config(tmp_path, **changes))
    for word in words:
        assert word in str(error.value), str(error.value)
    assert str(error.value).startswith(words[0]) and "--" not in str(error.value)  # the field, not the flag
    assert not (tmp_path / "l").exists()  # checked before anything is written


def test_an_unknown_option_is_a_user_error():
    with pytest.raises(trpo.UserError, match="unknown option 'max_kll'"):
        trpo.TrainConfig().replace(max_kll=0.1)


def test_a_callback_sees_every_iteration_and_can_stop_the_run(tmp_path):
    seen = []
    result = trpo.train(config(tmp_path, max_iter_num=5), callbacks=[lambda r: seen.append(r) or r.iteration == 2])
    assert result.stop_reason == "callback" and seen == result.history and len(seen) == 2
    assert load_checkpoint(result.paths["checkpoint"])["iteration"] == 2


def test_evaluation_logs_deterministic_returns_and_keeps_the_best_policy(tmp_path):
    result = trpo.train(config(tmp_path, max_iter_num=4, eval_interval=2, eval_episodes=3))
    logged = scalars(result.paths["run_dir"], "eval/return_mean")
    assert [step for step, _ in logged] == [4400, 8800]  # every 2 iterations, x = environment steps
    assert [r.eval_return is not None for r in result.history] == [False, True, False, True]
    best, info = trpo.load_policy(result.paths["best_model"])
    returns = trpo.evaluate(best, info["env_name"], episodes=3)  # the same reset seeds 10000-10002
    assert np.mean(returns) == pytest.approx(max(v for _, v in logged), rel=1e-5)
    assert [v for _, v in scalars(result.paths["run_dir"], "eval/return_std")][-1] >= 0
    assert load_checkpoint(result.paths["checkpoint"])["best_eval"] == pytest.approx(max(v for _, v in logged))


def test_a_resumed_run_keeps_the_best_evaluation(tmp_path):
    first = trpo.train(config(tmp_path, max_iter_num=2, eval_interval=1, eval_episodes=2))
    best = load_checkpoint(first.paths["checkpoint"])["best_eval"]
    before = os.path.getmtime(first.paths["best_model"])
    resumed = trpo.train(trpo.from_checkpoint(first.paths["checkpoint"], max_iter_num=3))
    assert resumed.config.eval_interval == 1 and len(resumed.history) == 1
    after = load_checkpoint(first.paths["checkpoint"])["best_eval"]
    assert after == max(best, resumed.history[0].eval_return)
    assert (os.path.getmtime(first.paths["best_model"]) > before) == (resumed.history[0].eval_return > best)


def test_the_diagnostics_are_logged_every_iteration(tmp_path):
    result = trpo.train(config(tmp_path, max_iter_num=2))
    for tag in ("loss/critic_explained_variance", "policy/entropy", "trpo/cg_residual", "trpo/backtracks"):
        assert [step for step, _ in scalars(result.paths["run_dir"], tag)] == [2200, 4400], tag
    entropy = scalars(result.paths["run_dir"], "policy/entropy")[0][1]
    assert entropy == pytest.approx(Normal(0.0, 1.0).entropy().item(), rel=1e-6)  # the slides' std 1


def test_explained_variance_is_one_minus_the_residual_share_of_the_variance():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert explained_variance(returns, returns) == 1.0
    assert explained_variance(torch.full((4,), returns.mean().item()), returns) == pytest.approx(0.0, abs=1e-7)
    values = torch.tensor([1.5, 2.0, 2.5, 5.0])
    residual_var = np.var([-0.5, 0.0, 0.5, 1.0], ddof=1)
    assert explained_variance(values, returns) == pytest.approx(1 - residual_var / np.var(returns.numpy(), ddof=1))
    assert math.isnan(explained_variance(values, torch.ones(4)))


def test_the_cg_residual_and_the_entropy_of_an_update_against_explicit_references(tiny_actor, states):
    """One CG iteration gives s = (g.g / g.Ag) g; the reported residual is ||g - A s|| / ||g||, A = H + cI
    from the explicit Hessian. The entropy is torch.distributions' for the std the actor had."""
    T = len(states)
    torch.manual_seed(3)
    masks = torch.ones(T, dtype=torch.float64)
    masks[T // 2 - 1] = masks[-1] = 0
    batch = Batch(states, torch.randn(T, 2, dtype=torch.float64), torch.randn(T, dtype=torch.float64), masks)
    critic = trpo.Critic(2, hidden_size=3).double()
    torch.nn.init.zeros_(critic.fc3.weight)
    torch.nn.init.zeros_(critic.fc3.bias)
    advantages = trpo.get_returns(batch.rewards, masks, 0.99)
    logp = Normal(*tiny_actor(states)).log_prob(batch.actions).sum(-1)
    g = trpo.flat_grad(torch.autograd.grad((advantages * logp).mean(), tiny_actor.parameters()))
    A = explicit_kl_hessian(tiny_actor, states) + 0.1 * torch.eye(len(g), dtype=torch.float64)
    s = (g @ g) / (g @ A @ g) * g
    expected = ((g - A @ s).norm() / g.norm()).item()
    entropy = Normal(*tiny_actor(states)).entropy().sum(-1).mean().item()
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    info = trpo.train_model(tiny_actor, critic, opt, batch, 0.99, 0.01, trpo.UpdateOptions(cg_iters=1))
    assert info.cg_residual == pytest.approx(expected, rel=1e-6)
    assert info.entropy == pytest.approx(entropy, rel=1e-9)
    assert info.accepted and info.step_fraction == 0.5 ** info.backtracks


def test_a_terminal_shows_a_progress_bar_with_an_eta_and_the_stop_reason(tmp_path):
    """train.py under a pseudo-terminal: tqdm's bar (steps done / budget, rate, ETA, the 100-episode average)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))  # a 150-column terminal
    proc = subprocess.Popen([sys.executable, "train.py", "--max_env_steps", "6600", "--save_path", str(tmp_path / "m"),
                             "--logdir", str(tmp_path / "l")], cwd=ROOT, stdin=follower, stdout=follower,
                            stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0
    text = out.decode(errors="replace")
    assert "6.60k/6.60k" in text and "step/s" in text and "<" in text and "avg100=" in text, text
    assert "stopped after 3 iterations (6600 steps): max_env_steps 6600 reached (the 100-episode average -" in text


def test_without_a_terminal_there_are_only_the_slides_lines_and_the_stop_line(tmp_path):
    p = subprocess.run([sys.executable, "train.py", "--max_iter_num", "3", "--log_interval", "2",
                        "--save_path", str(tmp_path / "m"), "--logdir", str(tmp_path / "l")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = p.stdout.splitlines()
    assert [line.split(" | ")[0] for line in lines if " iter | " in line] == ["0 iter", "2 iter"]
    assert re.match(r"stopped after 3 iterations \(6600 steps\): max_iter_num 3 reached \(the 100-episode average "
                    r"-\d+\.\d\); saved ", lines[-1]), lines[-1]
    assert "\r" not in p.stdout and p.stderr == ""


def test_the_trainer_merges_a_batch_into_the_statistics_only_after_its_update_and_only_if_usable(tmp_path, monkeypatch):
    """train_model must see the statistics the batch was sampled with; a batch whose update was unusable
    (non-finite data or critic loss) never joins them."""
    real, seen = trpo.trainer.train_model, []

    def spy(actor, critic, opt, batch, *args, **kwargs):
        seen.append((int(actor.obs_norm.count), int(critic.return_norm.count), len(batch.states)))
        info = real(actor, critic, opt, batch, *args, **kwargs)
        return info._replace(usable=False) if len(seen) == 2 else info

    monkeypatch.setattr(trpo.trainer, "train_model", spy)
    result = trpo.train(config(tmp_path, preset="tuned", max_iter_num=3))
    (c1, r1, n1), (c2, r2, n2), (c3, r3, n3) = seen
    assert (c1, r1) == (0, 0)  # the first batch's update sees the initial statistics
    assert (c2, r2) == (n1, n1)  # the second sees the first batch, merged after its update
    assert (c3, r3) == (n1, n1)  # the second batch was unusable: not merged
    final = load_checkpoint(result.paths["checkpoint"])["actor"]["obs_norm.count"]
    assert int(final) == n1 + n3


def test_a_checkpoint_of_another_format_version_is_a_one_line_error(tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"format": "trpo-checkpoint/1", "flags": {}}, str(path))
    code, out, err = run("train.py", "--load_model", str(path))
    assert_one_line_error(code, err, "trpo-checkpoint/1", "another version")


def test_the_wheel_holds_the_package_and_its_shipped_policies(tmp_path):
    """pip builds trpo from pyproject.toml (setuptools from the package index, as for any user)."""
    import shutil
    import zipfile
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "logs", "save_model", "results",
                                                                "__pycache__", "build", "*.egg-info"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel, = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert {"trpo/__init__.py", "trpo/config.py", "trpo/trainer.py", "trpo/pretrained/Pendulum-v1.pth",
            "trpo/pretrained/Hopper-v5.pth", "trpo/pretrained/HalfCheetah-v5.pth"} <= set(names)
    assert not any(n.startswith(("tests/", "benchmarks/", "results/")) for n in names)

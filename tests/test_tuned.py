"""The tuned preset's pieces, each against an independent reference, and the presets as flags."""
import argparse
import os

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trpo.trainer
from trpo.cli import parse_train_args, train_main
from conftest import explicit_kl_hessian
from test_sampler import pendulum_step
from trpo.checkpoint import Progress, load_checkpoint, load_policy
from trpo.envs import make_vector_env
from trpo.model import Actor, Critic, RunningNorm
from trpo.sampler import collect_trajectories
from trpo.utils import fisher_graph, get_gae, hessian_vector_product, update_critic


def gae_by_definition(rewards, ends, terminal, values, next_values, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l} over the rest of t's episode, written as the double sum."""
    T = len(rewards)
    delta = [rewards[t] + gamma * (0.0 if terminal[t] else next_values[t]) - values[t] for t in range(T)]
    adv = []
    for t in range(T):
        end = min(e for e in ends if e >= t)
        adv.append(sum((gamma * lam) ** (k - t) * delta[k] for k in range(t, end + 1)))
    return np.array(adv)


def test_gae_is_the_discounted_sum_of_td_errors_and_bootstraps_only_at_truncation():
    g = torch.Generator().manual_seed(0)
    T = 9
    rewards, values, next_values = (torch.randn(T, generator=g, dtype=torch.float64) for _ in range(3))
    masks = torch.ones(T, dtype=torch.float64)
    masks[[3, 8]] = 0  # episode 1 ends at 3 (truncated by the time limit), episode 2 at 8 (terminated)
    terminals = torch.zeros(T, dtype=torch.float64)
    terminals[8] = 1
    adv, lam_returns = get_gae(rewards, masks, terminals, values, next_values, 0.9, 0.8)
    ref = gae_by_definition(rewards.tolist(), [3, 8], terminals.tolist(), values.tolist(), next_values.tolist(),
                            0.9, 0.8)
    np.testing.assert_allclose(adv.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(lam_returns.numpy(), ref + values.numpy(), rtol=1e-12)
    # lambda = 1, ends terminal, and V(s_{t+1}) the next row's V: A + V is the plain discounted return
    chained = torch.cat([values[1:], values[:1]])
    adv1, ret1 = get_gae(rewards, masks, 1 - masks, values, chained, 0.9, 1.0)
    assert ret1[8].item() == pytest.approx(rewards[8].item())
    assert ret1[7].item() == pytest.approx(rewards[7].item() + 0.9 * rewards[8].item())


def test_running_norm_matches_numpy_over_all_batches_seen():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 50, 1)]
    norm = RunningNorm(4)
    for b in batches:
        norm.update(torch.as_tensor(b))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(norm.mean.numpy(), everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), everything.var(0), rtol=1e-12)
    x = torch.as_tensor(everything[:3], dtype=torch.float32)
    expected = (everything[:3] - everything.mean(0)) / np.sqrt(everything.var(0) + 1e-8)
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-5)
    assert norm(torch.full((1, 4), 1e6)).max().item() == 10.0  # clipped


def test_learned_std_actor_with_normalized_obs_has_the_exact_fisher_product(states):
    torch.manual_seed(0)
    actor = Actor(2, 2, hidden_size=3, learn_std=True, log_std_init=-0.5, normalize_obs=True).double()
    actor.obs_norm.update(3 * states + 1)
    assert actor.log_std.requires_grad and len(list(actor.parameters())) == 7
    H = explicit_kl_hessian(actor, states)
    p = torch.randn(H.shape[0], dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(fisher_graph(actor, states), p, damping=0.1), H @ p + 0.1 * p)


def test_critic_epochs_take_one_adam_step_per_minibatch_and_fit_better():
    torch.manual_seed(0)
    states = torch.randn(200, 3)
    targets = states.sum(1)  # learnable
    losses = {}
    for epochs, size, steps in ((1, 0, 1), (20, 64, 20 * 4)):  # 200 rows = 4 minibatches of 64, 64, 64, 8
        torch.manual_seed(1)
        critic = Critic(3)
        opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
        update_critic(critic, opt, states, targets, epochs, size)
        assert int(opt.state[critic.fc1.weight]["step"]) == steps
        losses[epochs] = torch.nn.functional.mse_loss(critic(states).squeeze(-1), targets).item()
    assert losses[20] < 0.9 * losses[1]


def test_the_batch_keeps_the_state_a_truncated_episode_reached():
    torch.manual_seed(0)
    envs = make_vector_env("Pendulum-v1", 2)
    batch = collect_trajectories(envs, Actor(3, 1), 400, seed=0).batch
    envs.close()
    assert batch.terminals.sum() == 0  # Pendulum never terminates, it is only truncated
    ends = np.flatnonzero(batch.masks.numpy() == 0)
    assert len(ends) == 2
    for t in [0, 57, *ends]:  # next_states is where the dynamics lead, also at the time limit
        expected, _ = pendulum_step(batch.states[t].numpy(), np.clip(batch.actions[t].numpy(), -2, 2))
        np.testing.assert_allclose(batch.next_states[t].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_hopper_falls_are_terminal_and_time_limits_are_not():
    torch.manual_seed(0)
    envs = make_vector_env("Hopper-v5", 2)
    batch = collect_trajectories(envs, Actor(11, 3), 100, seed=0).batch
    envs.close()
    ends = np.flatnonzero(batch.masks.numpy() == 0)
    assert len(ends) >= 2 and (batch.terminals.numpy()[ends] == 1).all()  # a random policy falls quickly
    assert batch.terminals.sum() == len(ends)


def resolved(*argv):
    return parse_train_args(list(argv)).resolved()


def test_the_slides_preset_is_the_slides_defaults_and_flags_win_over_a_preset():
    args = resolved()
    assert (args.gamma, args.total_sample_size, args.max_kl, args.critic_lr, args.goal_score, args.hidden_size) == \
        (0.99, 2048, 0.01, 1e-3, -300, 64)
    assert (args.gae_lambda, args.bootstrap_truncation, args.learn_std, args.log_std_init, args.normalize_obs,
            args.scale_rewards, args.normalize_advantages, args.critic_epochs, args.critic_batch_size,
            args.critic_hidden_size, args.ortho_init, args.max_kl_schedule, args.max_kl_final, args.cg_iters,
            args.cg_damping) == ('off', False, False, 0.0, False, False, False, 1, 0, 0, False, 'constant', 0.0,
                                 10, 0.1)
    tuned = resolved("--preset", "tuned", "--gamma", "0.99", "--no-learn_std")
    assert (tuned.gamma, tuned.learn_std, tuned.gae_lambda, tuned.total_sample_size) == (0.99, False, 0.95, 1024)
    hopper = resolved("--preset", "tuned", "--env_name", "Hopper-v5")
    assert (hopper.gamma, hopper.total_sample_size, hopper.max_kl, hopper.max_kl_schedule, hopper.max_kl_final,
            hopper.max_env_steps, hopper.log_std_init, hopper.critic_hidden_size, hopper.critic_lr,
            hopper.goal_score) == (0.995, 1024, 0.04, 'linear', 0.0, 1_000_000, 0.0, 256, 3e-4, float("inf"))
    cheetah = resolved("--preset", "tuned", "--env_name", "HalfCheetah-v5")
    assert (cheetah.total_sample_size, cheetah.ortho_init, hopper.ortho_init, tuned.ortho_init) == \
        (1000, True, False, False)
    assert (cheetah.max_env_steps, cheetah.goal_score) == (1_000_000, float("inf"))  # the benchmarked budget
    assert (tuned.critic_hidden_size, cheetah.critic_hidden_size) == (0, 0)
    assert (tuned.critic_lr, cheetah.critic_lr) == (1e-3, 1e-3)
    assert (tuned.max_kl_final, cheetah.max_kl_final) == (0.0, 0.0)
    cartpole, acrobot, lunar = (resolved("--preset", "tuned", "--env_name", e)
                                for e in ("CartPole-v1", "Acrobot-v1", "LunarLander-v3"))
    assert (cartpole.total_sample_size, cartpole.max_kl, cartpole.max_env_steps, cartpole.goal_score) == \
        (2048, 0.01, 100_000, float("inf"))
    assert (acrobot.total_sample_size, acrobot.max_kl, acrobot.max_kl_schedule, acrobot.max_env_steps,
            acrobot.goal_score) == (1024, 0.04, 'linear', 100_000, float("inf"))
    assert (lunar.critic_hidden_size, lunar.critic_lr, lunar.max_kl, lunar.max_env_steps, lunar.goal_score) == \
        (256, 3e-4, 0.01, 200_000, float("inf"))
    for env_name in ("Humanoid-v5", "Reacher-v5"):
        mujoco = resolved("--preset", "tuned", "--env_name", env_name)  # one MuJoCo preset: Hopper's values
        assert (mujoco.gamma, mujoco.total_sample_size, mujoco.max_kl, mujoco.max_kl_schedule, mujoco.log_std_init,
                mujoco.critic_hidden_size, mujoco.critic_lr, mujoco.max_env_steps, mujoco.goal_score) == \
            (0.995, 1024, 0.04, 'linear', 0.0, 256, 3e-4, 1_000_000, float("inf"))
    assert (cheetah.gamma, cheetah.max_kl, cheetah.max_kl_schedule, cheetah.log_std_init) == (0.99, 0.01, 'constant', -0.5)
    swimmer = resolved("--preset", "tuned", "--env_name", "Swimmer-v5")  # the RL Zoo's values, on the MuJoCo ones
    assert (swimmer.gamma, swimmer.ortho_init, swimmer.max_kl, swimmer.max_kl_schedule, swimmer.critic_hidden_size,
            swimmer.critic_lr, swimmer.critic_batch_size, swimmer.total_sample_size, swimmer.log_std_init,
            swimmer.max_env_steps, swimmer.cg_iters) == (0.9999, True, 0.02, 'constant', 64, 1e-3, 128, 1024, 0.0,
                                                        1_000_000, 25)
    ant = resolved("--preset", "tuned", "--env_name", "Ant-v5")  # std 0.6 and 25 CG iterations, on the MuJoCo values
    assert (ant.log_std_init, ant.cg_iters, ant.gamma, ant.max_kl, ant.normalize_obs) == (-0.5, 25, 0.995, 0.04, True)
    walker = resolved("--preset", "tuned", "--env_name", "Walker2d-v5")  # a trust region twice Hopper's
    assert (walker.max_kl, walker.max_kl_schedule, walker.gamma, walker.log_std_init, walker.total_sample_size) == \
        (0.08, 'linear', 0.995, 0.0, 1024)
    for env_name in ("InvertedPendulum-v5", "InvertedDoublePendulum-v5"):  # the MuJoCo values, raw states
        pendulum = resolved("--preset", "tuned", "--env_name", env_name)
        assert (pendulum.normalize_obs, pendulum.gamma, pendulum.max_kl, pendulum.log_std_init) == \
            (False, 0.995, 0.04, 0.0)
    box2d = resolved("--preset", "tuned", "--env_name", "BipedalWalker-v3")  # not MuJoCo: the tuned defaults
    assert (box2d.gamma, box2d.total_sample_size, box2d.max_kl, box2d.log_std_init) == (0.99, 2048, 0.01, -0.5)


@pytest.mark.integration
def test_default_training_is_the_slides_values_spelled_out(tmp_path):
    """`python train.py` trains exactly as with every value of the slides' algorithm given as a flag
    (same process, same machine: bit for bit, with no golden numbers that another BLAS would change)."""
    def averages(*flags):
        history = train_main(["--max_iter_num", "3", "--save_path", str(tmp_path / f"m{len(flags)}_{flags[-1:]}"),
                              "--logdir", str(tmp_path / "l"), *flags])
        return [record.avg100 for record in history.history]

    # the slides' train.py: its argparse defaults, nsteps=10 and cg_damping=1e-1 in step 4, env.seed(500);
    # and every switch the package added, off
    spelled_out = ["--gamma", "0.99", "--hidden_size", "64", "--critic_lr", "1e-3", "--max_kl", "1e-2",
                   "--total_sample_size", "2048", "--goal_score", "-300", "--cg_iters", "10", "--cg_damping", "0.1",
                   "--gae_lambda", "off", "--no-bootstrap_truncation", "--no-learn_std", "--log_std_init", "0",
                   "--no-normalize_obs", "--no-scale_rewards", "--no-normalize_advantages", "--no-ortho_init",
                   "--critic_epochs", "1", "--critic_batch_size", "0", "--critic_hidden_size", "0",
                   "--max_kl_schedule", "constant", "--max_kl_final", "0", "--seed", "500"]
    default = averages()
    assert default == averages(*spelled_out)
    assert default != averages(*spelled_out[:-1], "501")  # the comparison can tell two runs apart


@pytest.mark.integration
def test_tuned_model_carries_its_normalization_and_learned_std_to_test_py(tmp_path):
    train_main(["--preset", "tuned", "--max_env_steps", "3000", "--save_path", str(tmp_path / "m"),
                       "--logdir", str(tmp_path / "l")])
    actor, info = load_policy(str(tmp_path / "m" / "model.pth"))
    ckpt = load_checkpoint(str(tmp_path / "m" / "checkpoint.pth"))
    assert info["actor_options"] == {"learn_std": True, "log_std_init": -0.5, "normalize_obs": True, "discrete": False}
    assert ckpt["total_steps"] == 3600 and actor.obs_norm.count.item() == 3600  # 3 batches of 6 x 200
    assert torch.equal(actor.obs_norm.mean, ckpt["actor"]["obs_norm.mean"])
    assert actor.log_std.item() != -0.5  # it was learned
    from_checkpoint, ck_info = load_policy(str(tmp_path / "m" / "checkpoint.pth"))  # what test.py does with it
    assert {k: ck_info[k] for k in ("env_name", "state_size", "action_size", "hidden_size", "actor_options")} == \
        {k: info[k] for k in ("env_name", "state_size", "action_size", "hidden_size", "actor_options")}
    states = torch.randn(5, 3) * 4
    assert all(torch.equal(a, b) for a, b in zip(from_checkpoint(states), actor(states)))
    ea = EventAccumulator(str(tmp_path / "l" / os.listdir(tmp_path / "l")[0])).Reload()
    assert ea.Scalars("policy/std")[-1].value == pytest.approx(actor.log_std.exp().item(), rel=1e-6)
    assert ckpt["critic"]["return_norm.count"].item() == 3600


@pytest.mark.integration
def test_tuned_resume_is_bit_for_bit_too(tmp_path):
    common = ["--preset", "tuned", "--logdir", str(tmp_path / "l")]
    train_main([*common, "--max_iter_num", "4", "--save_path", str(tmp_path / "a")])
    train_main([*common, "--max_iter_num", "2", "--save_path", str(tmp_path / "b")])
    train_main(["--load_model", str(tmp_path / "b" / "checkpoint.pth"), "--max_iter_num", "4"])
    a, b = (load_checkpoint(str(tmp_path / x / "checkpoint.pth")) for x in "ab")
    for part in ("actor", "critic"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])


@pytest.mark.learning
def test_tuned_training_learns_pendulum_in_30000_steps(tmp_path):
    """The median gain of seeds 1-3. One seed's gain is a draw from a wide distribution (seeds 1-8 gained 482 to
    767 at commit 'one path', 422 to 688 before): a single seed near the margin fails on float rounding alone."""
    gains = []
    for seed in ("1", "2", "3"):
        history = train_main(["--preset", "tuned", "--max_env_steps", "30000", "--seed", seed, "--quiet",
                              "--save_path", str(tmp_path / seed), "--logdir", str(tmp_path / "l")])
        gains.append(history.history[-1].avg100 - history.history[0].avg100)
    assert sorted(gains)[1] > 500, gains


def test_orthogonal_init_gives_orthogonal_layers_and_a_near_zero_first_policy_mean():
    torch.manual_seed(0)
    actor, critic = Actor(17, 6, 64, ortho_init=True), Critic(17, 64, ortho_init=True)
    eye = torch.eye(64)
    torch.testing.assert_close(actor.fc2.weight @ actor.fc2.weight.T, 2 * eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(critic.fc2.weight @ critic.fc2.weight.T, 2 * eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(actor.fc1.weight.T @ actor.fc1.weight, 2 * torch.eye(17), atol=1e-5, rtol=0)
    w = actor.fc3.weight  # 6 orthogonal rows of norm sqrt(2) * 0.01
    torch.testing.assert_close(w @ w.T, 2e-4 * torch.eye(6), atol=1e-9, rtol=0)
    assert abs(critic.fc3.weight.norm().item() - 1.0) < 1e-6
    assert all((layer.bias == 0).all() for layer in (actor.fc1, actor.fc2, actor.fc3, critic.fc1, critic.fc3))
    mu, _ = actor(torch.randn(100, 17))
    assert mu.abs().max() < 0.1


@pytest.mark.integration
def test_linear_max_kl_schedule_shrinks_the_trust_region_to_zero_over_the_budget(tmp_path, monkeypatch):
    real, deltas = trpo.trainer.train_model, []

    def record(actor, critic, opt, batch, gamma, max_kl, options, **kwargs):
        deltas.append(max_kl)
        return real(actor, critic, opt, batch, gamma, max_kl, options, **kwargs)

    monkeypatch.setattr(trpo.trainer, "train_model", record)
    train_main(["--max_kl_schedule", "linear", "--max_kl", "0.03", "--max_env_steps", "6600",
                       "--save_path", str(tmp_path / "m"), "--logdir", str(tmp_path / "l")])
    assert deltas == pytest.approx([0.03, 0.02, 0.01], rel=1e-12)  # 3 batches of 2,200 steps: 1, 2/3, 1/3 of it
    assert load_checkpoint(str(tmp_path / "m" / "checkpoint.pth"))["flags"]["max_iter_num"] is None  # steps alone
    ea = EventAccumulator(str(tmp_path / "l" / os.listdir(tmp_path / "l")[0])).Reload()
    assert [e.value for e in ea.Scalars("trpo/max_kl")] == pytest.approx([0.03, 0.02, 0.01], rel=1e-6)


def test_the_linear_schedule_ends_at_max_kl_final():
    args = argparse.Namespace(max_kl_schedule='linear', max_kl=0.03, max_kl_final=0.006, max_env_steps=6600)
    # delta = (1 - f) 0.03 + f 0.006 at f = 0, 1/3, 2/3, 1
    deltas = [trpo.trainer.trust_region(args, steps) for steps in (0, 2200, 4400, 6600)]
    assert deltas == pytest.approx([0.03, 0.022, 0.014, 0.006], rel=1e-12)
    constant = argparse.Namespace(max_kl_schedule='constant', max_kl=0.03, max_kl_final=0.0, max_env_steps=6600)
    assert trpo.trainer.trust_region(constant, 4400) == 0.03


def test_a_step_budget_alone_sets_no_iteration_limit_and_each_budget_is_a_stop_reason():
    steps_only = trpo.TrainConfig(max_env_steps=1000).resolved()
    assert steps_only.max_iter_num is None
    record = argparse.Namespace(avg100=-1000.0)
    assert trpo.trainer.stop_reason(steps_only, Progress(iteration=10 ** 6, total_steps=999), record, None) is None
    assert trpo.trainer.stop_reason(steps_only, Progress(total_steps=1000), record, None) == 'max_env_steps'
    both = trpo.TrainConfig(max_iter_num=500, max_env_steps=1000).resolved()
    assert trpo.trainer.stop_reason(both, Progress(iteration=500), record, None) == 'max_iter_num'
    assert trpo.trainer.stop_reason(both, Progress(iteration=1), argparse.Namespace(avg100=-299.0), None) == 'goal'

"""The categorical policy (Discrete actions): each distribution-dependent piece of the six steps
against an independent reference, and the Discrete environments end to end."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical as TorchCategorical, kl_divergence as torch_kl

from conftest import explicit_kl_hessian, slides_hessian_vector_product
import trpo
from trpo import cli
from trpo.distributions import Categorical
from trpo.envs import env_action
from trpo.model import Actor
from trpo.evaluate import run_episodes
from trpo.utils import (flat_grad, flat_params, get_action, get_entropy, get_log_prob, hessian_vector_product,
                        kl_divergence, fisher_graph, surrogate_loss, update_model)


@pytest.fixture
def discrete_actor():
    """float64, 2 states, 3 actions, 3 hidden: small enough for an explicit Hessian."""
    torch.manual_seed(0)
    return Actor(2, 3, hidden_size=3, discrete=True).double()


@pytest.fixture
def states():
    torch.manual_seed(1)
    return torch.randn(16, 2, dtype=torch.float64)


def test_discrete_actor_outputs_logits_and_has_no_std():
    actor = Actor(4, 2, 64, learn_std=True, discrete=True)
    logits, = actor(torch.zeros(5, 4))
    assert logits.shape == (5, 2)
    assert sum(p.numel() for p in actor.parameters()) == 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2
    assert 'log_std' not in actor.state_dict()


def test_log_prob_is_the_log_softmax_of_the_action_taken():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64)
    actions = torch.tensor([2.0, 0.0], dtype=torch.float64)  # batches hold actions as floats
    x = logits.numpy()
    by_hand = [x[0, 2] - np.log(np.exp(x[0]).sum()), x[1, 0] - np.log(np.exp(x[1]).sum())]
    np.testing.assert_allclose(get_log_prob(actions, Categorical(logits)).numpy(), by_hand, rtol=1e-12)


def test_entropy_matches_torch_distributions():
    logits = torch.randn(10, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(get_entropy(Categorical(logits)), TorchCategorical(logits=logits).entropy())


def test_kl_divergence_matches_torch_distributions(states):
    torch.manual_seed(5)
    new, old = Actor(2, 3, 3, discrete=True).double(), Actor(2, 3, 3, discrete=True).double()
    ours = kl_divergence(new_actor=new, old_actor=old, states=states)
    ref = torch_kl(TorchCategorical(logits=old(states).logits), TorchCategorical(logits=new(states).logits))
    assert ours.shape == (16,) and (ours > 0).all()
    torch.testing.assert_close(ours, ref)


def test_samples_follow_the_softmax():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(20_000, 3)
    actions = get_action(Categorical(logits))
    assert actions.dtype == np.int64 and actions.shape == (20_000,)
    freq = np.bincount(actions, minlength=3) / 20_000
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.01)  # 3 standard errors ~ 0.01


def test_surrogate_is_the_mean_advantage_at_the_old_policy_with_the_policy_gradient(discrete_actor, states):
    actions = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2)).double()
    adv = torch.randn(16, dtype=torch.float64)
    with torch.no_grad():
        old = get_log_prob(actions, discrete_actor(states))
    loss = surrogate_loss(discrete_actor, adv, states, old, actions)
    torch.testing.assert_close(loss, adv.mean())
    g = flat_grad(torch.autograd.grad(loss, discrete_actor.parameters()))
    log_p = TorchCategorical(logits=discrete_actor(states).logits).log_prob(actions.long())
    g_ref = flat_grad(torch.autograd.grad((log_p * adv).mean(), discrete_actor.parameters()))
    torch.testing.assert_close(g, g_ref)


def test_surrogate_away_from_the_old_policy_is_the_mean_probability_ratio_times_advantage(discrete_actor, states):
    actions = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2)).double()
    adv = torch.randn(16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        old_logits = discrete_actor(states).logits.numpy()
        old = get_log_prob(actions, discrete_actor(states))
        update_model(discrete_actor, flat_params(discrete_actor) + 0.3)
        new_logits = discrete_actor(states).logits.numpy()
    a = actions.long().numpy()

    def p(logits):  # softmax probability of the action taken, by hand
        e = np.exp(logits - logits.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True))[np.arange(16), a]

    by_hand = np.mean(p(new_logits) / p(old_logits) * adv.numpy())
    np.testing.assert_allclose(surrogate_loss(discrete_actor, adv, states, old, actions).item(), by_hand, rtol=1e-10)


def test_hessian_vector_product_matches_the_explicit_hessian_and_the_slides_double_backward(discrete_actor, states):
    H = explicit_kl_hessian(discrete_actor, states, lambda policy: TorchCategorical(logits=policy[0]))
    graph = fisher_graph(discrete_actor, states)
    for seed in range(3):
        p = torch.randn(H.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(hessian_vector_product(graph, p, damping=0.1), H @ p + 0.1 * p)
        torch.testing.assert_close(slides_hessian_vector_product(discrete_actor, states, p, damping=0.1), H @ p + 0.1 * p)


def test_cartpole_actions_reach_the_environment_as_indices():
    assert env_action(np.array([1, 0]), gym.spaces.Discrete(2)).tolist() == [1, 0]
    assert env_action(np.array([0, 2]), gym.spaces.Discrete(3, start=-1)).tolist() == [-1, 1]


class Recorder(gym.Env):
    """Three steps per episode with actions in Discrete(3, start=5); remembers what it was given."""
    observation_space, action_space = gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3, start=5)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.actions = 0, getattr(self, 'actions', [])
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        self.actions.append(int(action))
        return np.zeros(2, dtype=np.float32), 1.0, self.t == 3, False, {}


def test_evaluation_plays_the_most_probable_action_or_samples_the_softmax():
    logits = torch.tensor([[0.0, 2.0, 1.0]])  # p = 0.09, 0.67, 0.24
    env = Recorder()
    assert run_episodes(env, lambda s: Categorical(logits), episodes=2) == [3.0, 3.0]
    assert env.actions == [6] * 6  # argmax 1, shifted by the space's start 5
    env.actions = []
    torch.manual_seed(0)
    run_episodes(env, lambda s: Categorical(logits), episodes=300, stochastic=True)
    freq = np.bincount(np.array(env.actions) - 5, minlength=3) / 900
    np.testing.assert_allclose(freq, logits.softmax(-1)[0].numpy(), atol=0.05)  # 900 draws: 3 standard errors


@pytest.mark.integration
def test_train_writes_a_categorical_model_that_test_loads_and_evaluates(tmp_path):
    result = trpo.train(trpo.TrainConfig(env_name='CartPole-v1', max_iter_num=2, total_sample_size=256,
                                         eval_interval=1, eval_episodes=2, save_path=str(tmp_path / 'm'),
                                         logdir=str(tmp_path / 'l'), quiet=True))
    assert all(r.eval_return >= 8 for r in result.history)  # evaluated with the most probable action
    assert trpo.load_policy(result.paths['best_model'])[0].discrete
    actor, info = trpo.load_policy(result.paths['model'])
    assert actor.discrete and info['action_size'] == 2
    checkpoint_actor, _ = trpo.load_policy(result.paths['checkpoint'])
    assert checkpoint_actor.discrete
    scores = trpo.evaluate(actor, 'CartPole-v1', episodes=2)
    assert len(scores) == 2 and all(s >= 8 for s in scores)  # CartPole pays 1 per step; no episode ends sooner

    straight = trpo.train(trpo.TrainConfig(env_name='CartPole-v1', max_iter_num=3, total_sample_size=256,
                                           eval_interval=1, eval_episodes=2, save_path=str(tmp_path / 's'),
                                           logdir=str(tmp_path / 'l'), quiet=True))
    resumed = trpo.train(trpo.from_checkpoint(result.paths['checkpoint'], max_iter_num=3))
    assert [r.iteration for r in resumed.history] == [3]
    assert [r[:3] for r in result.history + resumed.history] == [r[:3] for r in straight.history]
    a, b = (trpo.load_policy(r.paths['model'])[0].state_dict() for r in (resumed, straight))
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit


@pytest.mark.integration
def test_test_py_runs_a_categorical_model(tmp_path, capsys):
    trpo.train(trpo.TrainConfig(env_name='CartPole-v1', max_iter_num=1, total_sample_size=256,
                                save_path=str(tmp_path), logdir=str(tmp_path / 'l'), quiet=True))
    cli.test_main(['--load_model', str(tmp_path / 'model.pth'), '--episodes', '2', '--stochastic', '--no-render'])
    out = capsys.readouterr().out
    assert 'CartPole-v1' in out and 'over 2 stochastic episodes' in out


@pytest.mark.parametrize('observation_space, action_space, words', [
    (gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([2, 3]), 'MultiDiscrete action space'),
    (gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([3] * 40), 'MultiDiscrete action space'),  # NumPy wraps it
    (gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiBinary(3), 'MultiBinary action space'),
    (gym.spaces.Dict({'x': gym.spaces.Box(-1, 1, (2,))}), gym.spaces.Discrete(2), 'Dict observation space'),
    (gym.spaces.Box(0, 255, (8, 8, 3), dtype=np.uint8), gym.spaces.Discrete(2),
     'Box observation space Box(0, 255, (8, 8, 3)'),  # an image
])
def test_other_spaces_get_a_one_line_error_that_names_them(observation_space, action_space, words, tmp_path):
    gym.register('WithSpaces-v0', entry_point=lambda render_mode=None: WithSpaces(observation_space, action_space))
    try:
        with pytest.raises(trpo.UserError) as error:
            trpo.train(trpo.TrainConfig(env_name='WithSpaces-v0', save_path=str(tmp_path), logdir=str(tmp_path)))
    finally:
        del gym.registry['WithSpaces-v0']
    assert words in str(error.value) and '\n' not in str(error.value) and len(str(error.value)) < 250


class WithSpaces(gym.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space


@pytest.mark.integration
def test_smoke_lunarlander_trains_an_iteration(tmp_path):
    """Smoke test: the Box2D environment of the tuned discrete presets installs and trains (gymnasium[box2d])."""
    pytest.importorskip('Box2D', reason='LunarLander-v3 needs the box2d extra: pip install "gymnasium[box2d]"')
    result = trpo.train(trpo.TrainConfig(env_name='LunarLander-v3', preset='tuned', max_iter_num=1,
                                         max_env_steps=None, total_sample_size=200, save_path=str(tmp_path / 'm'),
                                         logdir=str(tmp_path / 'l'), quiet=True))
    assert result.history[0].total_steps >= 200 and result.history[0].update.usable

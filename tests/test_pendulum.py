"""The batched Pendulum-v1 (trpo.pendulum) against Gymnasium's own, stepped side by side."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from trpo.envs import make_vector_env
from trpo.model import Actor
from trpo.pendulum import PendulumVectorEnv
from trpo.sampler import collect_trajectories


def gymnasium_pendulums(n):
    return gym.vector.SyncVectorEnv([lambda: gym.make('Pendulum-v1')] * n,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def assert_same_step(ours, theirs):
    (obs, reward, terminated, truncated, info), (obs_, reward_, terminated_, truncated_, info_) = ours, theirs
    np.testing.assert_array_equal(obs, obs_)
    assert obs.dtype == obs_.dtype == np.float32
    np.testing.assert_array_equal(reward, reward_)  # bit for bit, not to a tolerance
    assert reward.dtype == reward_.dtype
    np.testing.assert_array_equal(terminated, terminated_)
    np.testing.assert_array_equal(truncated, truncated_)
    assert info.keys() == info_.keys()
    if 'final_obs' in info_:
        np.testing.assert_array_equal(info['_final_obs'], info_['_final_obs'])
        for i in np.flatnonzero(info_['_final_obs']):
            np.testing.assert_array_equal(info['final_obs'][i], info_['final_obs'][i])


@pytest.mark.parametrize('n', [1, 3, 11])
def test_steps_equal_gymnasium_bit_for_bit(n):
    """1,000 steps (5 episodes each, truncations included) of actions inside and far outside the torque bounds."""
    ours, theirs = PendulumVectorEnv(n), gymnasium_pendulums(n)
    obs, _ = ours.reset(seed=7)
    obs_, _ = theirs.reset(seed=7)
    np.testing.assert_array_equal(obs, obs_)
    rng = np.random.default_rng(0)
    truncations = 0
    for _ in range(1000):
        actions = (3 * rng.standard_normal((n, 1))).astype(np.float32)
        ours_step, theirs_step = ours.step(actions), theirs.step(actions)
        assert_same_step(ours_step, theirs_step)
        truncations += theirs_step[3].sum()
    assert truncations == 5 * n


def test_reset_seeds_like_sync_vector_env():
    """An int seeds sub-environment i with seed + i, a list seeds each, None lets the generators go on."""
    ours, theirs = PendulumVectorEnv(3), gymnasium_pendulums(3)
    for seed in (3, [10, None, 12], None, None):  # in the list, None keeps env 1's generator going
        obs, _ = ours.reset(seed=seed)
        obs_, _ = theirs.reset(seed=seed)
        np.testing.assert_array_equal(obs, obs_)
    first, _ = ours.reset(seed=3)
    again, _ = ours.reset(seed=3)
    later, _ = ours.reset()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, later)


def test_generators_round_trip_through_get_attr_and_set_attr():
    """What a checkpoint saves (the bit generators' states) restores the same next episodes."""
    envs = PendulumVectorEnv(4)
    envs.reset(seed=1)
    saved = [g.bit_generator.state for g in envs.get_attr('np_random')]
    expected, _ = envs.reset()
    generators = [np.random.Generator(np.random.PCG64()) for _ in saved]
    for g, state in zip(generators, saved):
        g.bit_generator.state = state
    envs.set_attr('np_random', generators)
    np.testing.assert_array_equal(envs.reset()[0], expected)


def test_make_vector_env_batches_pendulum_only_where_nothing_else_is_asked():
    made = [make_vector_env('Pendulum-v1', 4), make_vector_env('Pendulum-v1', 2, vector_mode='async'),
            make_vector_env('Pendulum-v1', 1, render_mode='rgb_array'), make_vector_env('MountainCarContinuous-v0', 2)]
    try:
        assert [type(envs) for envs in made] == [PendulumVectorEnv, gym.vector.AsyncVectorEnv, gym.vector.SyncVectorEnv,
                                                 gym.vector.SyncVectorEnv]
    finally:
        for envs in made:
            envs.close()


def test_a_batch_is_the_same_batch_on_either_pendulum():
    """The sampler gives the same 2,200-step batch, episode returns and end steps on both."""
    rollouts = []
    for envs in (PendulumVectorEnv(11), gymnasium_pendulums(11)):
        torch.manual_seed(0)
        actor = Actor(3, 1)
        rollouts.append([collect_trajectories(envs, actor, 2048, seed=s) for s in (5, None)])
    for ours, theirs in zip(*rollouts):
        for x, y in zip(ours.batch, theirs.batch):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
        assert ours.episode_returns == theirs.episode_returns
        assert ours.episode_end_steps == theirs.episode_end_steps


def test_what_gymnasium_refuses_is_refused():
    envs = PendulumVectorEnv(3)
    with pytest.raises(gym.error.ResetNeeded):
        envs.step(np.zeros((3, 1), dtype=np.float32))
    with pytest.raises(ValueError, match='2 seeds for 3 environments'):
        envs.reset(seed=[1, 2])

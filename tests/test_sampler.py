"""Batches are whole episodes from the current policy, exactly as long as the slides' loop makes them."""
import numpy as np
import pytest
import torch

from trpo.envs import make_vector_env
from trpo.model import Actor
from trpo.sampler import collect_trajectories


def pendulum_step(obs, action):
    """Pendulum-v1's dynamics and reward written out independently (g=10, m=l=1, dt=0.05)."""
    th, thdot = np.arctan2(obs[1], obs[0]), obs[2]
    u = np.clip(action[0], -2.0, 2.0)
    norm_th = ((th + np.pi) % (2 * np.pi)) - np.pi
    reward = -(norm_th ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2)
    newthdot = np.clip(thdot + (3 * 10 / 2 * np.sin(th) + 3.0 * u) * 0.05, -8, 8)
    newth = th + newthdot * 0.05
    return np.array([np.cos(newth), np.sin(newth), newthdot]), reward


def episodes_of(batch):
    ends = np.flatnonzero(batch.masks.numpy() == 0)
    return np.split(np.arange(len(batch.masks)), ends[:-1] + 1), ends


@pytest.mark.parametrize("num_envs, mode", [(1, "sync"), (3, "sync"), (4, "sync"),
                                             pytest.param(3, "async", marks=pytest.mark.integration)])  # processes
def test_batch_is_whole_consistent_episodes(num_envs, mode):
    torch.manual_seed(0)
    envs = make_vector_env("Pendulum-v1", num_envs, vector_mode=mode)
    rollout = collect_trajectories(envs, Actor(3, 1, 8), total_sample_size=700, seed=3)
    batch = rollout.batch
    episodes, ends = episodes_of(batch)
    assert ends[-1] == len(batch.masks) - 1  # the batch ends on an episode end
    assert [len(e) for e in episodes] == [200] * 4  # Pendulum truncates at 200; 4 x 200 >= 700 > 3 x 200
    assert rollout.episode_lengths == [200] * 4
    # batch steps done by all environments together when each episode ended: n start together, then one more
    assert rollout.episode_end_steps == {1: [200, 400, 600, 800], 3: [600, 600, 600, 800], 4: [800] * 4}[num_envs]
    np.testing.assert_allclose(sorted(rollout.episode_returns),
                               sorted(batch.rewards[e].sum().item() for e in episodes), rtol=1e-5)
    s, a, r = batch.states.double().numpy(), batch.actions.double().numpy(), batch.rewards.double().numpy()
    for e in episodes:
        for t in e:
            next_obs, reward = pendulum_step(s[t], a[t])
            assert r[t] == pytest.approx(reward, rel=1e-4, abs=1e-4)
            if t != e[-1]:
                np.testing.assert_allclose(s[t + 1], next_obs, atol=1e-4)
    envs.close()


def test_one_env_reproduces_the_slides_sequential_loop():
    """num_envs=1: reset(seed) once, then episodes back to back until steps >= total_sample_size."""
    torch.manual_seed(0)
    actor = Actor(3, 1, 8)
    envs = make_vector_env("Pendulum-v1", 1)
    rollout = collect_trajectories(envs, actor, total_sample_size=2048, seed=500)
    assert len(rollout.batch.masks) == 2200  # the slides' "2200 samples": 11 episodes of 200
    first_state, _ = make_vector_env("Pendulum-v1", 1).reset(seed=500)
    np.testing.assert_array_equal(rollout.batch.states[0].numpy(), first_state[0])
    envs.close()


def test_many_envs_stop_starting_episodes_once_the_batch_is_full():
    torch.manual_seed(0)
    envs = make_vector_env("Pendulum-v1", 8)
    rollout = collect_trajectories(envs, Actor(3, 1, 8), total_sample_size=2048, seed=0)
    assert len(rollout.batch.masks) == 2200 and len(rollout.episode_returns) == 11  # not 16 x 200
    envs.close()

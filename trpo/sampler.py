"""Collect whole episodes until the batch holds at least total_sample_size steps: in this process
(LocalSampler), or in Ray's rollout workers (trpo.ray_sampler.RaySampler). The trainer knows either only
by this interface: collect(actor, seed, meanwhile), rng_state(), set_rng_state(state), close(), and
single_observation_space, single_action_space."""
import random
from typing import NamedTuple

import numpy as np
import torch

from trpo.envs import env_action, make_vector_env
from trpo.update import Batch
from trpo.utils import get_action


class Rollout(NamedTuple):
    batch: Batch
    episode_returns: list  # in the order the episodes ended
    episode_lengths: list
    episode_end_steps: list  # batch steps done (all environments) when each episode ended


def _wants_new_episode(completed_steps, num_completed, ep_len, running, total_sample_size):
    """Start another episode only if the episodes done and under way are expected to fall short.

    Episodes under way count as max(steps so far, mean episode length). With one
    environment this is the slides' rule: keep going while steps < total_sample_size.
    """
    mean_len = completed_steps / num_completed
    expected = completed_steps + np.maximum(ep_len[running], mean_len).sum()
    return expected < total_sample_size


@torch.no_grad()
def collect_trajectories(envs, actor, total_sample_size, seed=None):
    """Run the policy in a vector env; return whole episodes, env by env, end to end.

    Every sub-environment starts a fresh episode (reset, seeded once on the first
    call). When one ends, that sub-environment starts another only while the batch
    still needs steps; otherwise it goes idle and what it does is discarded. So env
    i's used steps are its first rows 0..used[i]-1, and the batch is exactly whole
    episodes from the current policy, as in the slides' single-environment loop.
    """
    frozen = actor.frozen()  # the actor as it is now, its forward pass in NumPy
    n = envs.num_envs
    obs, _ = envs.reset(seed=seed)
    running = np.ones(n, dtype=bool)  # in an episode that belongs to the batch
    ep_len, ep_ret = np.zeros(n, dtype=np.int64), np.zeros(n)
    used = np.zeros(n, dtype=np.int64)
    returns, lengths, end_steps = [], [], []
    rows, steps_done = [], 0
    while running.any():
        action = get_action(frozen(obs))  # learning process 1: select an action for each state
        next_obs, reward, terminated, truncated, info = envs.step(env_action(action, envs.single_action_space))
        done = terminated | truncated
        final_obs = next_obs.copy()  # where an episode ended, next_obs is already the next episode's start
        for i in np.flatnonzero(done):
            final_obs[i] = info["final_obs"][i]
        rows.append((obs, action, reward, done, terminated, final_obs))
        ep_len += running
        steps_done += int(running.sum())  # every environment still running took a step of the batch
        ep_ret += np.where(running, reward, 0.0)
        ended = np.flatnonzero(done & running)
        for i in ended:  # bookkeeping first, so every decision below sees all completions
            used[i] += ep_len[i]
            returns.append(float(ep_ret[i]))
            lengths.append(int(ep_len[i]))
            end_steps.append(steps_done)
            ep_len[i], ep_ret[i] = 0, 0.0
            running[i] = False
        for i in ended:
            running[i] = _wants_new_episode(sum(lengths), len(lengths), ep_len, running, total_sample_size)
        obs = next_obs

    obs_, act_, rew_, done_, term_, next_ = (np.stack(x, axis=1) for x in zip(*rows))  # (n, steps, ...)

    def take(x):  # env i's first used[i] rows, env after env
        return torch.as_tensor(np.concatenate([x[i, :used[i]] for i in range(n)]), dtype=torch.float32)

    batch = Batch(states=take(obs_), actions=take(act_), rewards=take(rew_), masks=1.0 - take(done_),
                  terminals=take(term_), next_states=take(next_))
    return Rollout(batch, returns, lengths, end_steps)


def steps_per_sampler(config):
    """The steps each vector env collects per batch: all of them, or with --sampler ray a worker's share,
    ceil(total_sample_size / num_workers)."""
    return -(-config.total_sample_size // (config.num_workers or 1))


class LocalSampler:
    """--sampler local: a vector env of num_envs environments in this process (the slides' loop, side by side)."""

    def __init__(self, config):
        render_mode = 'human' if config.render else None
        self.envs = make_vector_env(config.env_name, config.num_envs, config.vector_mode, render_mode=render_mode)
        self.single_observation_space = self.envs.single_observation_space
        self.single_action_space = self.envs.single_action_space
        self.steps = steps_per_sampler(config)

    def collect(self, actor, seed=None, meanwhile=lambda: None):
        """One batch from actor (reset seeded with seed, if not None), then meanwhile()."""
        rollout = collect_trajectories(self.envs, actor, self.steps, seed=seed)
        meanwhile()
        return rollout

    def rng_state(self):
        return rng_state(self.envs)

    def set_rng_state(self, state):
        set_rng_state(self.envs, state)

    def close(self):
        self.envs.close()


def rng_state(envs=None):
    """Every random number generator of this process a training run draws from: torch, NumPy's and
    Python's global ones, and each sub-environment's np_random (of envs, a vector env, if given)."""
    np_state = np.random.get_state(legacy=False)
    return {"torch": torch.get_rng_state(),
            "numpy": {**np_state, "state": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                                            "pos": np_state["state"]["pos"]}},
            "python": list(random.getstate()),
            "envs": [g.bit_generator.state for g in envs.get_attr("np_random")] if envs is not None else []}


def set_rng_state(envs, state):
    """Restore what rng_state saved; envs (None if it had none) must have as many sub-environments as then."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state({**np_state, "state": {"key": np_state["state"]["key"].numpy().astype(np.uint32),
                                               "pos": np_state["state"]["pos"]}})
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    generators = []
    for saved in state["envs"]:
        g = np.random.Generator(np.random.PCG64())
        g.bit_generator.state = saved
        generators.append(g)
    if envs is not None:
        envs.set_attr("np_random", generators)

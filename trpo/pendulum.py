"""Pendulum-v1 stepped for many environments at once, in NumPy: the same numbers as Gymnasium's.

Gymnasium's SyncVectorEnv steps Pendulum-v1 one Python environment at a time (about 14 us
each); this steps them all in one set of array operations. Each sub-environment keeps its
own random generator, seeded as SyncVectorEnv seeds it, so every observation, reward and
time-limit truncation equals gym.make_vec('Pendulum-v1', n, 'sync') with SAME_STEP autoreset,
bit for bit (tests/test_pendulum.py steps both side by side).
"""
import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import DEFAULT_X, DEFAULT_Y, angle_normalize
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

ENTRY_POINT = 'gymnasium.envs.classic_control.pendulum:PendulumEnv'


def is_gymnasium_pendulum(env_name):
    """True if env_name is Gymnasium's own Pendulum-v1 (not a re-registered one)."""
    spec = gym.spec(env_name)
    return spec.id == 'Pendulum-v1' and spec.entry_point == ENTRY_POINT and not spec.kwargs


class PendulumVectorEnv(gym.vector.VectorEnv):
    """num_envs Pendulum-v1 environments: theta'' = 3g/(2l) sin(theta) + 3/(m l^2) u, Euler steps of dt,
    reward -(angle_normalize(theta)^2 + 0.1 theta'^2 + 0.001 u^2), truncated after 200 steps.

    Autoreset SAME_STEP: where an episode ends, step returns the next episode's first observation and
    puts the last one in info['final_obs'], as SyncVectorEnv does. get_attr('np_random') and
    set_attr('np_random', generators) read and replace the sub-environments' generators (checkpoints).
    """
    metadata = {'autoreset_mode': gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, num_envs):
        single = gym.make('Pendulum-v1')
        pendulum = single.unwrapped
        self.spec = single.spec
        self.num_envs = num_envs
        self.max_episode_steps = single.spec.max_episode_steps
        self.g, self.m, self.l, self.dt = pendulum.g, pendulum.m, pendulum.l, pendulum.dt
        self.max_speed, self.max_torque = pendulum.max_speed, pendulum.max_torque
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        single.close()
        self.generators = [None] * num_envs  # seeded at the first reset, as gym.Env does
        self.state = np.zeros((num_envs, 2))  # theta, theta'
        self.elapsed = np.zeros(num_envs, dtype=np.int64)

    def reset(self, *, seed=None, options=None):
        """Reset every sub-environment: seed None (random the first time, else the generators go on), an int
        (sub-environment i gets seed + i) or a list of num_envs seeds."""
        if options is not None:
            raise ValueError('PendulumVectorEnv.reset takes no options; use gym.make_vec for reset bounds or masks')
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f'{len(seeds)} seeds for {self.num_envs} environments; pass one per environment')
        for i, s in enumerate(seeds):
            if s is not None or self.generators[i] is None:
                self.generators[i], _ = seeding.np_random(s)
            self.reset_one(i)
        return self.observations(), {}

    def reset_one(self, i):
        high = np.array([DEFAULT_X, DEFAULT_Y])
        self.state[i] = self.generators[i].uniform(low=-high, high=high)
        self.elapsed[i] = 0

    def observations(self):
        theta, theta_dot = self.state.T
        return np.stack([np.cos(theta), np.sin(theta), theta_dot], axis=1).astype(np.float32)

    def step(self, actions):
        if self.generators[0] is None:
            raise gym.error.ResetNeeded('call reset before step')
        theta, theta_dot = self.state.T
        u = np.clip(np.asarray(actions)[:, 0], -self.max_torque, self.max_torque)  # float32, as one env computes
        # the cost element by element, on NumPy scalars as one env computes it: a scalar's x ** 2 is libm's
        # pow (powf for u), which is not always the rounded x * x that an array's x ** 2 gives
        costs = np.array([angle_normalize(th) ** 2 + 0.1 * th_dot ** 2 + 0.001 * (ui ** 2)
                          for th, th_dot, ui in zip(theta, theta_dot, u)])
        theta_acc = 3 * self.g / (2 * self.l) * np.sin(theta) + 3.0 / (self.m * self.l ** 2) * u
        new_theta_dot = theta_dot + theta_acc * self.dt
        new_theta_dot = np.clip(new_theta_dot, -self.max_speed, self.max_speed)
        self.state = np.stack([theta + new_theta_dot * self.dt, new_theta_dot], axis=1)
        self.elapsed += 1
        obs = self.observations()
        truncated = self.elapsed >= self.max_episode_steps
        infos = {}
        for i in np.flatnonzero(truncated):
            infos = self._add_info(infos, {'final_obs': obs[i], 'final_info': {}}, i)
            self.reset_one(i)
        if truncated.any():  # the next episodes' first observations where episodes ended
            obs = self.observations()
        return obs, -costs, np.zeros(self.num_envs, dtype=bool), truncated, infos

    def get_attr(self, name):
        if name != 'np_random':
            raise AttributeError(f'PendulumVectorEnv.get_attr knows np_random, not {name}')
        return tuple(self.generators)

    def set_attr(self, name, values):
        if name != 'np_random' or len(values) != self.num_envs:
            raise ValueError('PendulumVectorEnv.set_attr takes np_random, one generator per sub-environment')
        self.generators = list(values)

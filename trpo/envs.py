"""Gymnasium environments: ids, checks, and vector environments for sampling."""
import difflib
import os
import signal

import gymnasium as gym
import numpy as np

from trpo.errors import UserError

RENAMED = {"Pendulum-v0": "Pendulum-v1"}  # gym ids of the slides -> Gymnasium ids


def resolve_env_name(env_name):
    """Map an old gym id to its Gymnasium successor, with a one-line notice."""
    if env_name in RENAMED:
        print(f"note: {env_name} is {RENAMED[env_name]} in Gymnasium (new reset/step API); using {RENAMED[env_name]}")
        return RENAMED[env_name]
    return env_name


def check_display():
    """Raise UserError unless a window can be opened (X11 or Wayland)."""
    if not has_display():
        raise UserError("--render needs a display, and none was found (DISPLAY is not set); "
                        "run where there is one (a desktop), or use test.py --record DIR to write a video")


def has_display():
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def render_offscreen():
    """Set up off-screen frames for rgb_array rendering (test.py --record) before an environment is made:
    SDL (pygame: classic control) needs no window system, and MuJoCo draws through EGL when there is no
    display (Mesa's software EGL works without a GPU). A value the user set wins."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if not has_display():
        os.environ.setdefault("MUJOCO_GL", "egl")


def env_spec(env_name):
    """gym.spec(env_name), or a UserError if there is no such environment."""
    try:
        return gym.spec(env_name)
    except gym.error.Error as e:
        raise cannot_make(env_name, e) from None


def cannot_make(env_name, error):
    """The one-line error for an id Gymnasium cannot make, with the registered id it likely meant (where
    Gymnasium's own message does not say)."""
    close = difflib.get_close_matches(env_name, gym.registry.keys(), n=1, cutoff=0.6)
    versions = sorted((i for i in gym.registry if i.rsplit('-v', 1)[0] == env_name and i.rsplit('-v', 1)[-1].isdigit()),
                      key=lambda i: int(i.rsplit('-v', 1)[1]))
    guess = versions[-1] if versions else (close[0] if close and close[0] != env_name else None)
    hint = f"; did you mean '{guess}'?" if guess and 'did you mean' not in str(error).lower() else ''
    return UserError(f"cannot make environment '{env_name}': {error}{hint}")


def make_env(env_name, render_mode=None, **kwargs):
    """gym.make(env_name, render_mode, **kwargs) with checks: the id exists, its observations are a 1-D Box,
    and its actions a 1-D Box (Gaussian policy) or Discrete (categorical policy)."""
    try:
        env = gym.make(env_name, render_mode=render_mode, **kwargs)
    except gym.error.Error as e:
        raise cannot_make(env_name, e) from None
    obs, act = env.observation_space, env.action_space
    problem = None
    if not is_flat_box(obs):
        problem = f"{describe(obs, 'observation')}; this TRPO needs a 1-D Box observation space"
    elif not (is_flat_box(act) or isinstance(act, gym.spaces.Discrete)):
        problem = f"{describe(act, 'action')}; this TRPO needs a 1-D Box (continuous) or a Discrete action space"
    if problem:
        env.close()
        raise UserError(f"environment '{env_name}' has {problem}")
    return env


def is_flat_box(space):
    """A Box of shape (n,): a vector of n floats, what the actor's first layer takes."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def describe(space, name):
    """'a Dict observation space Dict(...)', on one line and at most ~150 characters (NumPy wraps long bounds)."""
    text = ' '.join(str(space).split())
    return f"a {type(space).__name__} {name} space {text if len(text) <= 100 else text[:97] + '...'}"


def make_vector_env(env_name, num_envs=1, vector_mode="sync", render_mode=None):
    """num_envs copies of env_name in Gymnasium's SyncVectorEnv (or AsyncVectorEnv: one process each), reset in
    the same step their episode ends (SAME_STEP). A first copy, made and closed here, goes through Gymnasium's
    environment checker and fails in this process with a clear message; the copies that run skip the checker,
    which would wrap each of their steps."""
    make_env(env_name).close()
    env_fns = [lambda: make_env(env_name, render_mode, disable_env_checker=True)] * num_envs
    mode = gym.vector.AutoresetMode.SAME_STEP
    if vector_mode == "async":
        ignore = signal.signal(signal.SIGINT, signal.SIG_IGN)  # workers inherit it: Ctrl-C reaches
        try:  # only the trainer, which finishes its iteration and then closes them
            return gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=mode)
        finally:
            signal.signal(signal.SIGINT, ignore)
    return gym.vector.SyncVectorEnv(env_fns, autoreset_mode=mode)


def auto_num_envs(env_name, total_sample_size, num_envs="auto", most=16):
    """num_envs, or for 'auto' one episode per environment per batch: ceil(N / episode limit), 1..most.

    Every sub-environment then runs about one episode per batch, so none idles
    (Pendulum-v1: ceil(2048 / 200) = 11, the slides' 11 episodes in one round).
    """
    if num_envs != "auto":
        return num_envs
    probe = make_env(env_name)  # checks the id with a clear error
    limit = probe.spec.max_episode_steps or 1000
    probe.close()
    return int(min(most, max(1, -(-total_sample_size // limit))))


def env_sizes(envs):
    """(state_size, action_size, discrete) of a vector environment (or a sampler); for Discrete(n) actions, action_size is n."""
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return envs.single_observation_space.shape[0], int(space.n), True
    return envs.single_observation_space.shape[0], space.shape[0], False


def env_action(action, space):
    """What the environment is given for a sampled action: a Box action clipped to the bounds (the
    log-probability keeps the unclipped sample); a Discrete index 0..n-1 shifted by the space's start."""
    if isinstance(space, gym.spaces.Discrete):
        return action + space.start
    return np.clip(action, space.low, space.high)

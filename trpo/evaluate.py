"""Run a policy for whole episodes and report their returns (test.py, evaluation during training, benchmarks)."""
import glob
import os

import torch
from gymnasium.wrappers import RecordVideo

from trpo.envs import check_display, env_action, make_env, render_offscreen
from trpo.errors import UserError
from trpo.utils import get_action

EVAL_SEED = 10_000  # evaluation episode k starts from reset(seed=10000 + k); training seeds only its first reset


@torch.no_grad()
def run_episodes(env, actor, episodes, seed=EVAL_SEED, stochastic=False):
    """Returns of `episodes` episodes; episode k starts from reset(seed=seed + k).

    Deterministic by default: the action is the policy's mode (the mean mu(s), or the most probable
    action); stochastic samples a ~ pi(.|s) as in training.
    """
    scores = []
    for k in range(episodes):
        state, _ = env.reset(seed=seed + k)
        score, done = 0.0, False
        while not done:
            policy = actor(torch.as_tensor(state, dtype=torch.float32).unsqueeze(0))
            action = get_action(policy)[0] if stochastic else policy.mode()[0].numpy()
            state, reward, terminated, truncated, _ = env.step(env_action(action, env.action_space))
            score += float(reward)
            done = terminated or truncated
        scores.append(score)
    return scores


def evaluate(actor, env_name, episodes=10, seed=EVAL_SEED, stochastic=False, render=False, record=None):
    """Returns of `episodes` episodes of actor (see trpo.load_policy) on a new env_name environment.

    render: show them in a window (needs a display); record: write one mp4 per episode into that folder.
    """
    if render:
        check_display()
        env = make_env(env_name, render_mode='human')
    elif record:
        videos = sorted(glob.glob(os.path.join(glob.escape(record), f'{glob.escape(env_name)}-episode-*.mp4')))
        if videos:
            raise UserError(f"the video folder '{record}' already holds {len(videos)} video(s) of {env_name} "
                            f"({os.path.basename(videos[0])}, ...); choose another folder, or move them")
        render_offscreen()
        env = RecordVideo(make_env(env_name, render_mode='rgb_array'), record, episode_trigger=lambda k: True,
                          name_prefix=env_name)
        env.episode_id = 0  # it counts up at each reset: Hopper-v5-episode-1.mp4 is episode 1, as test.py counts
    else:
        env = make_env(env_name)
    try:
        return run_episodes(env, actor, episodes, seed=seed, stochastic=stochastic)
    finally:
        env.close()

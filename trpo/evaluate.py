"""Run a policy for whole episodes and report their returns (test.py, tests, benchmarks)."""
import torch

from trpo.envs import clip_action
from trpo.utils import get_action


@torch.no_grad()
def run_episodes(env, actor, episodes, seed=0, stochastic=False):
    """Returns of `episodes` episodes; episode k starts from reset(seed=seed + k).

    Deterministic by default: the action is the mean mu(s); stochastic samples a ~ N(mu, std^2).
    """
    scores = []
    for k in range(episodes):
        state, _ = env.reset(seed=seed + k)
        score, done = 0.0, False
        while not done:
            mu, std = actor(torch.as_tensor(state, dtype=torch.float32).unsqueeze(0))
            action = get_action(mu, std)[0] if stochastic else mu[0].numpy()
            state, reward, terminated, truncated, _ = env.step(clip_action(action, env.action_space))
            score += float(reward)
            done = terminated or truncated
        scores.append(score)
    return scores

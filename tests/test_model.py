"""The actor as the sampler calls it (Actor.frozen(): a no-autograd forward in NumPy) against the Actor itself."""
import numpy as np
import pytest
import torch

from trpo.distributions import Categorical, Gaussian
from trpo.model import Actor
from trpo.utils import get_action


@pytest.mark.parametrize('options', [dict(), dict(learn_std=True, log_std_init=-0.5, normalize_obs=True),
                                     dict(discrete=True, normalize_obs=True)])
def test_the_frozen_actor_is_the_actor_to_float32_rounding_and_get_action_draws_the_same_noise(options):
    torch.manual_seed(0)
    actor = Actor(5, 3, **options)
    if options.get('normalize_obs'):
        actor.obs_norm.update(3 * torch.randn(50, 5) + 1)
    if options.get('learn_std'):
        actor.log_std.data = torch.tensor([-0.5, 0.3, 0.0])  # a std per action dimension
    states = 4 * np.random.default_rng(0).standard_normal((200, 5))
    states[:20] *= 100  # beyond the observation clip (10 std)
    with torch.no_grad():
        policy = actor(torch.as_tensor(states, dtype=torch.float32))
    frozen = actor.frozen()
    frozen_policy = frozen(states)
    assert type(frozen_policy) is (Categorical if actor.discrete else Gaussian)
    assert not any(t.requires_grad for t in frozen_policy)
    for mine, theirs in zip(frozen_policy, policy):  # mu and std, or the logits
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    torch.manual_seed(1)
    reference = get_action(policy)
    torch.manual_seed(1)
    sampled = get_action(frozen(states))
    assert sampled.dtype == reference.dtype and sampled.shape == reference.shape
    if actor.discrete:  # the same uniform draws: only a probability within rounding of a boundary could differ
        assert (sampled == reference).mean() > 0.99
    else:
        np.testing.assert_allclose(sampled, reference, rtol=1e-5, atol=1e-5)
    actor.fc1.bias.data += 1.0  # a snapshot: later changes to the actor do not reach it (layers, std, statistics)
    if options.get('learn_std'):
        actor.log_std.data += 1.0
    if options.get('normalize_obs'):
        actor.obs_norm.update(torch.randn(50, 5) + 3)
    for mine, theirs in zip(frozen(states), policy):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)

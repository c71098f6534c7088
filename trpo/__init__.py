"""TRPO in PyTorch, faithful to the 2019 slides: one function per step of the update.

    import trpo
    result = trpo.train(trpo.TrainConfig(env_name='Pendulum-v1', max_iter_num=50))
    actor, info = trpo.load_policy(result.paths['model'])  # or a shipped policy: trpo.load_policy('Hopper-v5')
    print(trpo.evaluate(actor, info['env_name'], episodes=10))
"""
from trpo.checkpoint import load_policy, pretrained_model
from trpo.config import TrainConfig
from trpo.distributions import Categorical, Gaussian
from trpo.errors import UserError
from trpo.evaluate import evaluate
from trpo.model import Actor, Critic, RunningNorm
from trpo.trainer import IterationRecord, TrainResult, from_checkpoint, train
from trpo.update import Batch, UpdateInfo, UpdateOptions, train_model, update_running_stats
from trpo.utils import (FisherGraph, LineSearchResult, backtracking_line_search, conjugate_gradient, discounted_sum,
                        fisher_graph, flat_grad, flat_params, get_action, get_entropy, get_gae, get_log_prob,
                        get_returns, hessian_vector_product, kl_divergence, normalize, surrogate_loss,
                        update_critic, update_model)

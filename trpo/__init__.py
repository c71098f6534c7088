"""TRPO in PyTorch, faithful to the 2019 slides: one function per step of the update."""
from trpo.model import Actor, Critic, RunningNorm
from trpo.update import Batch, UpdateInfo, UpdateOptions, train_model, update_running_stats
from trpo.utils import (LineSearchResult, backtracking_line_search, conjugate_gradient, discounted_sum,
                        fisher_vector_product, flat_grad, flat_params, get_action, get_gae, get_log_prob,
                        get_returns, hessian_vector_product, kl_divergence,
                        make_fisher_vector_product, normalize, surrogate_loss, update_critic,
                        update_model)

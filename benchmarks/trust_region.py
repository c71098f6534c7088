"""How far each update moves the policy that acted, with the tuned preset's running statistics.

    python benchmarks/trust_region.py --env_name Hopper-v5 --iterations 6 --max_kl 0.01 --seeds 1 2 3 4 5

For each iteration prints, on the batch's states: mean KL(sampling policy || policy after the
update), which the trust region bounds by max_kl; the KL the update logged (trpo/kl); and mean
KL(sampling policy || next batch's policy), after the running statistics took in the batch.
"""
import argparse
import copy
import sys

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Normal, kl_divergence  # noqa: E402

import trpo  # noqa: E402
from trpo.envs import auto_num_envs, env_sizes, make_vector_env  # noqa: E402
from trpo.trainer import start_run, update_options  # noqa: E402
from trpo.progress import Console  # noqa: E402
from trpo.sampler import collect_trajectories  # noqa: E402
from trpo.update import train_model, update_running_stats  # noqa: E402


@torch.no_grad()
def mean_kl(old, new, states):
    return kl_divergence(Normal(*old(states)), Normal(*new(states))).sum(-1).mean().item()


def kl_per_iteration(env_name, seed, iterations, max_kl):
    """[(KL(sampling || updated), logged trpo/kl, KL(sampling || next batch's policy))] per iteration."""
    config = trpo.TrainConfig(preset='tuned', env_name=env_name, seed=seed, max_kl=max_kl,
                              max_kl_schedule='constant', quiet=True).resolved()
    torch.set_num_threads(config.threads)  # 1, as train.py: more threads only wait on each other here
    torch.manual_seed(config.seed)
    envs = make_vector_env(config.env_name, auto_num_envs(config.env_name, config.total_sample_size))
    actor, critic, optimizer, _ = start_run(config, *env_sizes(envs), None, Console(config))
    rows = []
    for it in range(iterations):
        batch = collect_trajectories(envs, actor, config.total_sample_size, seed=seed if it == 0 else None).batch
        sampler = copy.deepcopy(actor)
        info = train_model(actor, critic, optimizer, batch, config.gamma, max_kl, update_options(config))
        updated = mean_kl(sampler, actor, batch.states)
        update_running_stats(actor, critic, batch, config.gamma)
        rows.append((updated, info.kl, mean_kl(sampler, actor, batch.states)))
    envs.close()
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--env_name', default='Hopper-v5')
    p.add_argument('--iterations', type=int, default=6)
    p.add_argument('--max_kl', type=float, default=0.01)
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    flags = p.parse_args()
    runs = np.array([kl_per_iteration(flags.env_name, s, flags.iterations, flags.max_kl) for s in flags.seeds])
    print(f'{flags.env_name}, tuned preset, max_kl {flags.max_kl}, seeds {flags.seeds}: median [min, max] over seeds')
    print("| iteration | KL(sampling ‖ updated) | logged trpo/kl | KL(sampling ‖ next batch's policy) |")
    print('|---|---|---|---|')
    for it in range(flags.iterations):
        cells = [f'{np.median(runs[:, it, k]):.4f} [{runs[:, it, k].min():.4f}, {runs[:, it, k].max():.4f}]'
                 for k in range(3)]
        print(f"| {it} | {' | '.join(cells)} |")
    exceeded = int((runs[:, :, 0] > flags.max_kl).sum())
    print(f'updates with KL(sampling || updated) > max_kl: {exceeded} of {runs.shape[0] * runs.shape[1]}')


if __name__ == '__main__':
    main()

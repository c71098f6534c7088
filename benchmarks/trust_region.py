"""How far each update moves the policy that acted, with the tuned preset's running statistics.

    python benchmarks/trust_region.py --env_name Hopper-v5 --iterations 6 --max_kl 0.01

For each iteration prints, on the batch's states: mean KL(sampling policy || policy after the
update), which the trust region bounds by max_kl; the KL the update logged (trpo/kl); and mean
KL(sampling policy || next batch's policy), after the running statistics took in the batch.
"""
import argparse
import copy
import sys

sys.path.insert(0, __file__.rsplit('/benchmarks/', 1)[0])  # run from anywhere

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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--env_name', default='Hopper-v5')
    p.add_argument('--iterations', type=int, default=6)
    p.add_argument('--max_kl', type=float, default=0.01)
    p.add_argument('--seed', type=int, default=1)
    flags = p.parse_args()
    args = trpo.TrainConfig(preset='tuned', env_name=flags.env_name, seed=flags.seed, max_kl=flags.max_kl,
                            max_kl_schedule='constant', max_env_steps=None, quiet=True).resolved()
    torch.manual_seed(args.seed)
    num_envs = auto_num_envs(args.env_name, args.total_sample_size)
    envs = make_vector_env(args.env_name, num_envs)
    state_size, action_size = env_sizes(envs)
    actor, critic, optimizer, _ = start_run(args, state_size, action_size, None, Console(args))
    print(f'{args.env_name}, tuned preset, max_kl {flags.max_kl}, seed {flags.seed}')
    print('iteration | KL(sampling || updated) | logged trpo/kl | KL(sampling || next batch\'s policy)')
    for it in range(flags.iterations):
        batch = collect_trajectories(envs, actor, args.total_sample_size, seed=args.seed if it == 0 else None).batch
        sampler = copy.deepcopy(actor)
        info = train_model(actor, critic, optimizer, batch, args.gamma, flags.max_kl,
                           update_options(args))
        updated = mean_kl(sampler, actor, batch.states)
        update_running_stats(actor, critic, batch, args.gamma)
        print(f'{it} | {updated:.4f} | {info.kl:.4f} | {mean_kl(sampler, actor, batch.states):.4f}')
    envs.close()


if __name__ == '__main__':
    main()

"""Watch or measure a saved policy: python test.py [--render | --record DIR] [--episodes N].

With no --load_model: save_model/model.pth (the latest training run's) if there is one,
else the Pendulum-v1 policy that ships with the package.
"""
import numpy as np
from gymnasium.wrappers import RecordVideo

from trpo.checkpoint import find_model, load_policy
from trpo.cli import ArgumentParser, run_main, seed_arg
from trpo.envs import check_display, make_env, render_offscreen
from trpo.errors import UserError
from trpo.evaluate import run_episodes


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__)
    p.add_argument('--load_model', default=None,
                   help='model.pth written by train.py, or a checkpoint.pth (its latest actor); a bare file name '
                        'is also looked up in --save_path. Default: save_model/model.pth if it exists, else the '
                        'shipped Pendulum-v1 policy')
    p.add_argument('--save_path', default='./save_model/', help='where train.py saved its models')
    p.add_argument('--episodes', type=int, default=10, help='number of episodes to run')
    p.add_argument('--seed', type=seed_arg, default=0, help='episode k starts from reset(seed=seed + k)')
    p.add_argument('--stochastic', action='store_true',
                   help='sample a ~ N(mu, std^2) as in training (default: the mean action mu)')
    show = p.add_mutually_exclusive_group()
    show.add_argument('--render', action='store_true', help='show the episodes in a window (needs a display)')
    show.add_argument('--record', metavar='DIR', help='write one mp4 video per episode into DIR (no display needed)')
    return p.parse_args(argv)


def make_test_env(env_name, render, record):
    if render:
        check_display()
        return make_env(env_name, render_mode='human')
    if record:
        render_offscreen()
        return RecordVideo(make_env(env_name, render_mode='rgb_array'), record,
                           episode_trigger=lambda k: True, name_prefix='trpo')
    return make_env(env_name)


def test(args):
    if args.episodes < 1:
        raise UserError(f'--episodes must be at least 1, got {args.episodes}')
    path = find_model(args.load_model, args.save_path)
    actor, info = load_policy(path)
    print(f'loaded {path} ({info["env_name"]})')
    env = make_test_env(info['env_name'], args.render, args.record)
    try:
        scores = run_episodes(env, actor, args.episodes, seed=args.seed, stochastic=args.stochastic)
    finally:
        env.close()
    for k, score in enumerate(scores, 1):
        print(f'episode {k}: return {score:.2f}')
    mode = 'stochastic' if args.stochastic else 'deterministic'
    print(f'mean return over {len(scores)} {mode} episodes of {info["env_name"]}: '
          f'{np.mean(scores):.2f} (std {np.std(scores):.2f})')
    if args.record:
        print(f'videos written to {args.record}')
    return scores


def main(argv=None):
    return run_main('test.py', lambda: test(parse_args(argv)))


if __name__ == '__main__':
    main()

"""train.py and test.py: the command line in front of trpo.train and trpo.evaluate; one-line errors, never
a traceback, and the exit codes."""
import argparse
import difflib
import sys

import numpy as np
import torch

from trpo.checkpoint import find_model, load_checkpoint, load_policy
from trpo.config import TrainConfig, add_arguments, int_in, seed_arg
from trpo.envs import has_display
from trpo.errors import Interrupted, UserError
from trpo.evaluate import EVAL_SEED, evaluate
from trpo.progress import iterations
from trpo.trainer import config_of_checkpoint, run, stop_words


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag prints one line (not the whole usage block), with the flag it likely meant,
    and exits with 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}{self.suggestion(message)} (see --help)\n")

    def suggestion(self, message):
        """'; did you mean --max_kl?' for an unrecognized --max-kl (or a near miss such as --max_kll)."""
        if 'unrecognized arguments' not in message:
            return ''
        known = [flag for action in self._actions for flag in action.option_strings if flag.startswith('--')]
        for word in message.split(':', 1)[1].split():
            flag = word.split('=', 1)[0]
            if flag.startswith('--'):
                underscored = '--' + flag[2:].replace('-', '_')
                close = [underscored] if underscored in known else difflib.get_close_matches(flag, known, n=1)
                if close:
                    return f'; did you mean {close[0]}?'
        return ''


def run_main(prog, fn):
    """Call fn(); a UserError becomes 'prog: error: message' on stderr and exit status 1."""
    try:
        return fn()
    except UserError as e:
        sys.exit(f"{prog}: error: {e}")
    except Interrupted as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a training loop
        sys.exit(f"{prog}: stopped at once; any checkpoint holds the last finished iteration")


TRAIN_DOC = """Train a TRPO policy, as on the slides: python train.py [flags]; tensorboard --logdir logs.

Every iteration writes <save_path>/checkpoint.pth; python train.py --load_model
<save_path>/checkpoint.pth continues that run exactly where it stopped (flags not
given take the run's values)."""


def parse_train_args(argv=None, prog='train.py'):
    """The TrainConfig the command line asks for. With --load_model CHECKPOINT the flags not given
    take the checkpoint's values, so 'python train.py --load_model save_model/checkpoint.pth' just continues."""
    parser = add_arguments(ArgumentParser(prog=prog, description=TRAIN_DOC,
                                          formatter_class=argparse.RawDescriptionHelpFormatter), defaults=False)
    given = vars(parser.parse_args(argv))
    if given.get('load_model'):
        path = find_model(given['load_model'], given.get('save_path', TrainConfig.save_path))
        checkpoint = load_checkpoint(path)
        if checkpoint is not None:
            return config_of_checkpoint(checkpoint, path, **{k: v for k, v in given.items() if k != 'load_model'})
        given['load_model'] = path
    return TrainConfig(**given)


def interrupted_message(result):
    """The line train.py adds on stderr when a signal stopped the run: how to continue (the stop line said why,
    unless --quiet kept it back: then this line says it)."""
    said = ''
    if result.config.quiet:
        last = result.history[-1] if result.history else None
        said = (f"stopped after {iterations(last.iteration if last else 0)} ({last.total_steps if last else 0} "
                f"steps): {stop_words('interrupted', result.config, last, result.signum)}; ")
    return f"{said}continue with: python train.py --load_model {result.paths['checkpoint']}"


def train_main(argv=None):
    """python train.py: train, print why it stopped; a signal's stop exits with 130 (SIGINT) or 143 (SIGTERM)."""
    def train():
        result = run(parse_train_args(argv))
        if result.stop_reason == 'interrupted':
            raise Interrupted(interrupted_message(result), result.signum)
        return result
    return run_main('train.py', train)


TEST_DOC = """Watch or measure a saved policy: python test.py [--render | --no-render | --record DIR] [--episodes N].

With no --load_model: save_model/model.pth (the latest training run's) if there is one,
else the Pendulum-v1 policy that ships with the package. With a display the episodes are
shown in a window, as on the slides; without one they run headless."""


def parse_test_args(argv=None):
    p = ArgumentParser(prog='test.py', description=TEST_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--load_model', default=None,
                   help='model.pth written by train.py, or a checkpoint.pth (its latest actor); a bare file name '
                        'is also looked up in --save_path (default: save_model/model.pth if it exists, else the '
                        'shipped Pendulum-v1 policy)')
    p.add_argument('--save_path', default='./save_model/', help='where train.py saved its models')
    p.add_argument('--episodes', type=int_in(1, None, 'at least 1'), default=10, help='number of episodes to run')
    p.add_argument('--seed', type=seed_arg, default=EVAL_SEED,
                   help='episode k starts from reset(seed=seed + k); the default, 10000, is the evaluation seeds '
                        'of training and of the published results')
    p.add_argument('--stochastic', action='store_true',
                   help='sample a ~ pi(.|s) as in training (default: the mean action mu, or the most probable one)')
    p.add_argument('--threads', type=int_in(1, None, 'a positive integer'), default=1, help='torch threads')
    p.add_argument('--render', action=argparse.BooleanOptionalAction, default=None,
                   help='show the episodes in a window (default: when there is a display and no --record)')
    p.add_argument('--record', metavar='DIR', help='write one mp4 video per episode into DIR (no display needed)')
    args = p.parse_args(argv)
    if args.render and args.record:
        p.error('--render and --record exclude each other: a video is drawn off screen')
    return args


def test_main(argv=None):
    """python test.py: run the policy, print each return and the mean; returns the returns."""
    def run():
        args = parse_test_args(argv)
        torch.set_num_threads(args.threads)
        path = find_model(args.load_model, args.save_path)
        actor, info = load_policy(path)
        print(f'loaded {path} ({info["env_name"]})')
        render = args.render
        if render is None:
            render = has_display() and not args.record
            if not render and not args.record:  # no display
                print('note: no display, so the episodes run headless; to watch them, run where there is a display '
                      '(a desktop, or ssh -X); for a video pass --record DIR')
        scores = evaluate(actor, info['env_name'], args.episodes, seed=args.seed, stochastic=args.stochastic,
                          render=render, record=args.record)
        for k, score in enumerate(scores, 1):
            print(f'episode {k}: return {score:.2f}')
        mode = 'stochastic' if args.stochastic else 'deterministic'
        print(f'mean return over {len(scores)} {mode} episode{"" if len(scores) == 1 else "s"} of {info["env_name"]}: '
              f'{np.mean(scores):.2f} (std {np.std(scores):.2f})')
        if args.record:
            print(f'videos written to {args.record}')
        return scores
    return run_main('test.py', run)

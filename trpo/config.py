"""TrainConfig: every training option, declared once, with its type, default, help and valid range.

train.py's command line is generated from it (one flag per field, same name), presets fill the
fields left at None, and validate() is the one place a bad value becomes a UserError, whether it
came from the command line or from Python:

    import trpo
    result = trpo.train(trpo.TrainConfig(env_name='Pendulum-v1', max_iter_num=50))
"""
import argparse
import dataclasses
import functools
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Optional, Union

from trpo.errors import UserError

SEED_RANGE = 2 ** 32  # a seed of torch and of Gymnasium's reset


def option(default, doc, *, cli=None, choices=None, word=None, python=None, parse=None, valid=None):
    """A TrainConfig field. cli: 'flag' (store_true) or 'switch' (--x/--no-x); word: a literal word
    accepted besides a number ('auto', 'off'); python: the types a value from Python may have;
    parse: the argparse type, if not the one python implies; valid: (test, 'must be ...') of its range."""
    return field(default=default, metadata=dict(help=doc, cli=cli, choices=choices, word=word, python=python,
                                                parse=parse, valid=valid))


# the ranges of the fields: (test of a value, what it must be)
POSITIVE = (lambda v: 0 < v < math.inf, 'must be positive and finite')
FINITE = (math.isfinite, 'must be a finite number')
NOT_NAN = (lambda v: not math.isnan(v), 'must be a number (inf: train to the end of the budget)')
DISCOUNT = (lambda v: 0 < v <= 1, 'must be in (0, 1]')
DAMPING = (lambda v: math.isfinite(v) and v >= 0, 'must be a finite number >= 0')
LAMBDA = (lambda v: v == 'off' or 0 <= v <= 1, "must be 'off' or in [0, 1]")
NUM_ENVS = (lambda v: v == 'auto' or v >= 1, "must be 'auto' or positive")
SEED = (lambda v: 0 <= v < SEED_RANGE, 'must be an integer in [0, 2**32)')
FOLDER = (lambda v: bool(v) and os.sep not in v and v not in ('.', '..'), f"must be a folder name without '{os.sep}'")


def zero_or_positive(meaning):
    return (lambda v: v >= 0, f'must be 0 ({meaning}) or positive')


def int_in(low, high, expected):
    """An argparse type: an integer in [low, high) (high None: no bound), else 'must be <expected>'."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {expected}, got '{text}'")
        return value
    return parse


seed_arg = int_in(0, SEED_RANGE, 'an integer in [0, 2**32)')


PRESET = 'the preset'  # help text marker: None means "the preset's value"
NUMBER, INT, TEXT, BOOL = (int, float), (int,), (str,), (bool,)


@dataclass
class TrainConfig:
    # the slides' flags, same names and defaults
    env_name: str = option('Pendulum-v1', 'Gymnasium id with a 1-D Box observation space and a 1-D Box '
                           '(Gaussian policy) or Discrete (categorical policy) action space (Pendulum-v0 is '
                           'accepted and means Pendulum-v1)', python=TEXT)
    load_model: Optional[str] = option(None, 'a checkpoint.pth continues its run (options not given take its '
                                       'values); a model.pth gives the actor a new run starts from. A bare file '
                                       'name not found where given is looked up in save_path, as on the slides',
                                       python=TEXT)
    save_path: str = option('./save_model/', 'folder for model.pth, checkpoint.pth and best_model.pth', python=TEXT)
    render: bool = option(False, 'show the environment in a window while training (uses 1 environment)',
                          cli='flag', python=BOOL)
    gamma: Optional[float] = option(None, 'discount gamma in (0, 1]', python=NUMBER, valid=DISCOUNT)
    hidden_size: int = option(64, 'units in each of the 2 tanh hidden layers of the actor (and of the critic, '
                              'unless critic_hidden_size)', python=INT, valid=POSITIVE)
    critic_lr: Optional[float] = option(None, 'Adam learning rate of the critic', python=NUMBER, valid=POSITIVE)
    max_kl: Optional[float] = option(None, 'trust-region radius delta: mean KL(pi_old || pi_new) <= delta',
                                     python=NUMBER, valid=POSITIVE)
    max_iter_num: Optional[int] = option(None, 'iterations (one batch + one update each), counting those of a '
                                         'resumed checkpoint; default 500, or no limit when max_env_steps is set',
                                         python=INT, valid=POSITIVE)
    total_sample_size: Optional[int] = option(None, 'each batch collects whole episodes until it holds at least '
                                              'this many steps', python=INT, valid=POSITIVE)
    log_interval: int = option(5, 'print a console line every this many iterations', python=INT, valid=POSITIVE)
    goal_score: Optional[float] = option(None, 'stop once the mean return of the last 100 episodes exceeds this '
                                         '(inf: train to the end of the budget)', python=NUMBER, valid=NOT_NAN)
    logdir: str = option('./logs', 'TensorBoard logs; each run gets its own subfolder', python=TEXT)
    # added
    seed: int = option(500, 'seed of torch and of the environments, in [0, 2**32) (the slides use 500)',
                       python=INT, parse=seed_arg, valid=SEED)
    num_envs: Union[str, int] = option('auto', "environments sampled side by side; 'auto': one episode each per "
                                       'batch, ceil(total_sample_size / episode limit), at most 16', word='auto',
                                       python=(str, int), valid=NUM_ENVS)
    vector_mode: str = option('sync', 'sync: all environments in this process; async: one process each',
                              choices=('sync', 'async'), python=TEXT)
    sampler: str = option('local', "where batches are sampled: local: in this process, with num_envs environments; "
                          "ray: in num_workers Ray actors, each with num_envs environments (pip install 'ray>=2.40')",
                          choices=('local', 'ray'), python=TEXT)
    num_workers: Optional[int] = option(None, 'rollout workers of --sampler ray (2 if not given); each collects '
                                        'ceil(total_sample_size / num_workers) steps of whole episodes',
                                        python=INT, valid=POSITIVE)
    address: Optional[str] = option(None, "the Ray cluster --sampler ray joins: 'auto' (the one this machine is "
                                    "part of) or host:port; default: a Ray started for the run on this machine, "
                                    'reachable from it alone', python=TEXT)
    critic_process: str = option('auto', "fit the critic (step 2) in a second process while the next batch is "
                                 "sampled, with the same result; auto: when it fits in minibatches "
                                 "(critic_batch_size > 0), there are 2 or more CPUs and --sampler is local",
                                 choices=('auto', 'on', 'off'), python=TEXT)
    threads: int = option(1, 'torch intra-op threads; 1 is fastest for networks this small', python=INT, valid=POSITIVE)
    max_env_steps: Optional[int] = option(None, 'also stop once this many environment steps are done', python=INT,
                                          valid=POSITIVE)
    run_name: Optional[str] = option(None, 'name of the TensorBoard run folder in logdir (default: '
                                     '<env>_seed<seed>_<date-time>)', python=TEXT, valid=FOLDER)
    eval_interval: int = option(0, 'every this many iterations, evaluate the deterministic policy on its own '
                                'environment and keep the best as best_model.pth; 0: never', python=INT,
                                valid=zero_or_positive('never'))
    eval_episodes: int = option(10, 'episodes per evaluation (reset seeds 10000, 10001, ...)', python=INT,
                                valid=POSITIVE)
    quiet: bool = option(False, 'no progress bar and no periodic console lines', cli='flag', python=BOOL)
    overwrite: bool = option(False, 'replace the model.pth, checkpoint.pth and best_model.pth of another run in '
                             'save_path (without it, a run refuses a save_path that holds them)', cli='flag',
                             python=BOOL)
    # the preset, and each of its switches (None: the preset's value)
    preset: str = option('slides', "slides: the slides' algorithm; tuned: every switch below on",
                         choices=('slides', 'tuned'), python=TEXT)
    gae_lambda: Union[str, float, None] = option(None, "GAE(lambda) advantages, lambda in [0, 1], the critic fitting "
                                                 "lambda-returns; 'off': the slides' normalized Monte-Carlo returns",
                                                 word='off', python=(str, int, float), valid=LAMBDA)
    bootstrap_truncation: Optional[bool] = option(None, 'with GAE, continue an episode cut by the time limit with '
                                                  'V(s_next), since a truncation is not a terminal state',
                                                  cli='switch', python=BOOL)
    learn_std: Optional[bool] = option(None, 'learn a state-independent log std (else std is fixed; Box actions)', cli='switch',
                                       python=BOOL)
    log_std_init: Optional[float] = option(None, 'initial log std (the fixed one without learn_std; Box actions)', python=NUMBER,
                                           valid=FINITE)
    normalize_obs: Optional[bool] = option(None, 'running mean/std observation normalization, saved in model.pth',
                                           cli='switch', python=BOOL)
    scale_rewards: Optional[bool] = option(None, 'divide rewards by the running std of the discounted return',
                                           cli='switch', python=BOOL)
    normalize_advantages: Optional[bool] = option(None, 'advantages to mean 0, std 1 per batch', cli='switch',
                                                  python=BOOL)
    ortho_init: Optional[bool] = option(None, 'orthogonal initialization, the policy mean layer scaled by 0.01',
                                        cli='switch', python=BOOL)
    critic_epochs: Optional[int] = option(None, 'passes of Adam over each batch for the critic', python=INT,
                                          valid=POSITIVE)
    critic_batch_size: Optional[int] = option(None, 'critic minibatch size, 0 for the whole batch', python=INT,
                                              valid=zero_or_positive('whole batch'))
    critic_hidden_size: Optional[int] = option(None, "units in each of the critic's 2 hidden layers, 0 for "
                                               'hidden_size', python=INT, valid=zero_or_positive('as --hidden_size'))
    max_kl_schedule: Optional[str] = option(None, 'linear: the trust region shrinks from max_kl to max_kl_final '
                                            'over max_env_steps', choices=('constant', 'linear'), python=TEXT)
    max_kl_final: Optional[float] = option(None, 'where the linear schedule ends, in [0, max_kl]', python=NUMBER)
    cg_iters: Optional[int] = option(None, 'conjugate-gradient iterations for the search direction H^-1 g',
                                     python=INT, valid=POSITIVE)
    cg_damping: Optional[float] = option(None, 'damping c in (H + c I) s = g', python=NUMBER, valid=DAMPING)

    def replace(self, **changes):
        """A copy with some fields changed (a UserError for a name that is not a field)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise UserError(f"unknown option {unknown[0]!r}; see trpo.TrainConfig for the options")
        return dataclasses.replace(self, **changes)

    def resolved(self):
        """The config that trains: the environment id resolved, every field left at None filled with the
        preset's value for that environment, and the iteration budget set; validated."""
        from trpo.envs import resolve_env_name  # imports Gymnasium: only when a run is resolved
        from trpo.presets import preset_values
        self.check_types()
        config = self.replace(env_name=resolve_env_name(self.env_name))
        filled = {k: v for k, v in preset_values(config.preset, config.env_name).items() if getattr(config, k) is None}
        config = config.replace(**filled)
        if config.max_iter_num is None and config.max_env_steps is None:
            config = config.replace(max_iter_num=500)  # the slides' budget; a step budget alone sets no limit
        if config.sampler == 'ray' and config.num_workers is None:
            config = config.replace(num_workers=2)
        config.validate()
        return config

    def check_types(self):
        for f in fields(self):
            value, allowed = getattr(self, f.name), f.metadata['python']
            if value is None and (f.default is None or f.name in PRESET_FIELDS):
                continue
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                raise UserError(f"--{f.name} must be {' or '.join(t.__name__ for t in allowed)}, "
                                f"got {value!r} ({type(value).__name__})")
            word = f.metadata['word']
            if isinstance(value, str) and word and value != word:
                raise UserError(f"--{f.name} must be '{word}' or a number, got {value!r}")
            if f.metadata['choices'] and value not in f.metadata['choices']:
                raise UserError(f"--{f.name} must be one of {', '.join(f.metadata['choices'])}, got {value!r}")

    def validate(self):
        """Reject values the algorithm cannot use (after resolved() filled the preset's values): each field
        against its range, then the options that depend on each other."""
        c = self
        for f in fields(self):
            value, valid = getattr(self, f.name), f.metadata['valid']
            if valid and value is not None and not valid[0](value):
                raise UserError(f"--{f.name} {valid[1]}, got {value}")
        if c.bootstrap_truncation and c.gae_lambda == 'off':
            raise UserError("--bootstrap_truncation needs a critic in the advantages: pass --gae_lambda "
                            "(1.0 gives Monte-Carlo returns with bootstrapping)")
        if c.sampler != 'ray':
            for name in ('num_workers', 'address'):
                if getattr(c, name) is not None:
                    raise UserError(f"--{name} is an option of Ray's rollout workers: pass --sampler ray, or drop --{name}")
        if c.address == '':
            raise UserError("--address is empty: pass 'auto' or host:port, or drop --address to start a Ray for the run")
        if c.sampler == 'ray' and c.critic_process == 'on':
            raise UserError("--critic_process on forks the trainer, which --sampler ray has connected to Ray (a fork "
                            "would share its connections): with Ray's workers the critic fits in the trainer while they "
                            "sample; drop --critic_process on")
        if c.sampler == 'ray' and c.render:
            raise UserError("--render shows an environment of this process, and --sampler ray samples in Ray's "
                            "workers: drop one of them")
        if c.max_kl_schedule == 'linear' and c.max_env_steps is None:
            raise UserError("--max_kl_schedule linear shrinks the trust region over --max_env_steps: "
                            "pass --max_env_steps N")
        if not 0 <= c.max_kl_final <= c.max_kl:
            raise UserError(f"--max_kl_final must be in [0, --max_kl] = [0, {c.max_kl}], got {c.max_kl_final}")
        if c.max_kl_schedule == 'constant' and c.max_kl_final != 0:
            raise UserError(f"--max_kl_final {c.max_kl_final} is where --max_kl_schedule linear ends: pass "
                            f"--max_kl_schedule linear, or --max_kl_final 0 for a constant trust region")


def in_python_words(fn):
    """fn for Python callers: a UserError it raises names options as TrainConfig's fields (max_kl), where the
    scripts name them as flags (--max_kl). The scripts call undecorated functions (trpo.trainer.run)."""
    flag = re.compile(r'(?<![\w/.-])--(' + '|'.join(f.name for f in fields(TrainConfig)) + r')\b')  # not in a path

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise UserError(flag.sub(r'\1', str(e))) from None
    return wrapper


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the platform has one): what 'auto' counts."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


PRESET_FIELDS = ('gamma', 'critic_lr', 'max_kl', 'total_sample_size', 'goal_score', 'max_env_steps', 'gae_lambda',
                 'bootstrap_truncation', 'learn_std', 'log_std_init', 'normalize_obs', 'scale_rewards',
                 'normalize_advantages', 'ortho_init', 'critic_epochs', 'critic_batch_size', 'critic_hidden_size',
                 'max_kl_schedule', 'max_kl_final', 'cg_iters', 'cg_damping')


def word_or(word, convert, expected):
    """An argparse type: the literal word, or convert(text)."""
    def parse(text):
        if text == word:
            return text
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected '{word}' or {expected}, got '{text}'") from None
    return parse


def add_arguments(parser, defaults=True):
    """One flag per TrainConfig field. defaults=False: flags not given are absent from the namespace."""
    from trpo.presets import SLIDES, TUNED
    for f in fields(TrainConfig):
        shown = f.default
        if f.name in PRESET_FIELDS:
            shown = (f"{PRESET}'s: slides {SLIDES[f.name]}, tuned {TUNED[f.name]}, some per environment"
                     if f.name in SLIDES else f"{PRESET}'s, per environment")
        help_text = f"{f.metadata['help']} (default: {shown})"
        kwargs = dict(help=help_text.replace('%', '%%'))
        if not defaults:
            kwargs['default'] = argparse.SUPPRESS
        elif f.metadata['cli'] != 'flag':
            kwargs['default'] = f.default
        cli, word = f.metadata['cli'], f.metadata['word']
        if cli == 'flag':
            kwargs['action'] = 'store_true'
        elif cli == 'switch':
            kwargs['action'] = argparse.BooleanOptionalAction
        elif f.metadata['choices']:
            kwargs['choices'] = f.metadata['choices']
        elif f.metadata['parse']:
            kwargs['type'] = f.metadata['parse']
        elif word == 'auto':
            kwargs['type'] = word_or('auto', int, 'a positive integer')
        elif word == 'off':
            kwargs['type'] = word_or('off', float, 'a number in [0, 1]')
        else:
            kwargs['type'] = {NUMBER: float, INT: int, TEXT: str}[f.metadata['python']]
        parser.add_argument(f'--{f.name}', **kwargs)
    return parser

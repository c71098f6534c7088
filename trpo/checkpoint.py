"""model.pth (the policy) and checkpoint.pth (the whole training state). Written atomically, loaded safely."""
import os
from collections import deque
from dataclasses import dataclass, field

import torch

from trpo.errors import UserError
from trpo.model import Actor

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")  # shipped, never written
POLICY_FORMAT = "trpo-policy/1"
CHECKPOINT_FORMAT = "trpo-checkpoint/3"  # /2: with the best evaluation; /3: with the critic's fit (version 0.3)
READABLE_CHECKPOINTS = ("trpo-checkpoint/2", CHECKPOINT_FORMAT)  # a /2 checkpoint has no fit under way


def atomic_save(obj, path):
    """torch.save to path via a temporary file and a rename: a crash leaves the old file intact."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a folder removed under us
        raise UserError(f"cannot write '{path}' ({e.strerror or e}); the previous file, if any, is intact; "
                        "free some space or choose another --save_path") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def safe_load(path, what="model"):
    """torch.load(weights_only=True): tensors and plain containers only, never arbitrary code."""
    if not os.path.isfile(path):
        raise UserError(f"{what} file '{path}' does not exist; "
                        "train one with 'python train.py' or pass --load_model PATH")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, wrong format, or a pickle that asks for code
        first_line = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load {what} file '{path}': it is corrupt, truncated or not a trpo file "
                        f"({first_line[:160]})") from None


def pretrained_model(env_name):
    """The shipped policy for env_name (Pendulum-v1, Hopper-v5, HalfCheetah-v5), trained with the package."""
    return os.path.join(PRETRAINED, f"{env_name}.pth")


def find_model(load_model, save_path):
    """The file --load_model names. As on the slides, a bare file name ('model.pth') not found where
    given is looked up in save_path; an environment id with a shipped policy ('Hopper-v5') names it.
    None (test.py with no --load_model): save_path/model.pth, the latest run's, if there is one, else the
    shipped Pendulum-v1 policy."""
    if load_model is None:
        latest = os.path.join(save_path, "model.pth")
        return latest if os.path.isfile(latest) else pretrained_model("Pendulum-v1")
    if os.path.exists(load_model) or os.path.dirname(load_model):
        return load_model
    in_save_path = os.path.join(save_path, load_model)
    if os.path.exists(in_save_path):
        return in_save_path
    if os.path.exists(pretrained_model(load_model)):  # a shipped policy by its environment id
        return pretrained_model(load_model)
    shipped = ', '.join(sorted(f[:-4] for f in os.listdir(PRETRAINED) if f.endswith('.pth')))
    raise UserError(f"model file '{load_model}' is neither in the current folder nor in --save_path "
                    f"'{save_path}', nor a shipped policy ({shipped}); train one with 'python train.py' "
                    "or pass --load_model PATH")


def actor_options(flags, discrete=False):
    """The Actor keyword arguments beyond the sizes that the flags (a dict) and the action space
    (discrete: a categorical actor, which has no std) choose; model.pth keeps them, so test.py
    rebuilds the same actor."""
    if discrete:
        return {"normalize_obs": flags["normalize_obs"], "discrete": True}
    return {**{k: flags[k] for k in ("learn_std", "log_std_init", "normalize_obs")}, "discrete": False}


def save_policy(path, actor, env_name, state_size, action_size, hidden_size, options=None):
    """options: the Actor keyword arguments beyond the sizes, as actor_options(flags) gives them."""
    atomic_save({"format": POLICY_FORMAT, "env_name": env_name, "state_size": state_size,
                 "action_size": action_size, "hidden_size": hidden_size,
                 "actor_options": options or {}, "actor": actor.state_dict()}, path)


def load_policy(path):
    """Rebuild the actor saved by save_policy, or the actor inside a checkpoint.pth; path may also name a shipped
    policy by its environment id ('Hopper-v5'), as test.py --load_model does. Returns (actor, info dict)."""
    if not os.path.exists(path) and os.path.exists(pretrained_model(path)):
        path = pretrained_model(path)
    data = safe_load(path)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        data = policy_of_checkpoint(data, path)
    if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
        raise UserError(f"'{path}' is not a trpo policy file (expected format {POLICY_FORMAT}); "
                        "pass the model.pth or checkpoint.pth that train.py wrote")
    try:
        actor = Actor(data["state_size"], data["action_size"], data["hidden_size"], **data["actor_options"])
        actor.load_state_dict(data["actor"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise damaged(path, "policy", e) from None
    actor.eval()
    return actor, data


def policy_of_checkpoint(checkpoint, path):
    """What save_policy would have written for the checkpoint's actor (the sizes read off its layers)."""
    try:
        flags, weights = checkpoint["flags"], checkpoint["actor"]
        return {"format": POLICY_FORMAT, "env_name": flags["env_name"], "state_size": weights["fc1.weight"].shape[1],
                "action_size": weights["fc3.weight"].shape[0], "hidden_size": flags["hidden_size"],
                "actor_options": actor_options(flags, checkpoint.get("discrete", False)),
                "actor": weights}
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise damaged(path, "checkpoint", e) from None


def damaged(path, what, error):
    return UserError(f"'{path}' is a damaged or incompatible trpo {what} file ({type(error).__name__}: "
                     f"{str(error)[:120]}); train a new one with 'python train.py'")


@dataclass
class Progress:
    """The counters of a training run; they carry over when it resumes."""
    iteration: int = 0  # iterations done
    total_steps: int = 0  # environment steps done
    episodes: int = 0  # episodes done
    recent_rewards: deque = field(default_factory=lambda: deque(maxlen=100))
    best_eval: float = float("-inf")  # best mean deterministic return evaluated so far (eval_interval)


def load_moments(optimizer, state):
    """Load an optimizer's state_dict (Adam's step counts and moments) into optimizer, which keeps the
    settings it was made with (learning rate, fused): load_state_dict alone would take the saved ones."""
    settings = {k: v for k, v in optimizer.param_groups[0].items() if k != 'params'}
    optimizer.load_state_dict(state)
    optimizer.param_groups[0].update(settings)


def save_checkpoint(path, flags, run_dir, progress, actor, critic, critic_optimizer, rng, critic_fit):
    """Everything a run needs to continue bit for bit, as tensors and plain types
    (so it loads with weights_only=True): options (a dict), counters, networks, optimizer, rng (the
    sampler's rng_state(): every random number generator of the run), and critic_fit
    (CriticFitter.state(): its generator and the fit under way)."""
    atomic_save({"format": CHECKPOINT_FORMAT, "flags": flags, "run_dir": run_dir, "discrete": actor.discrete,
                 "iteration": progress.iteration, "total_steps": progress.total_steps,
                 "episodes": progress.episodes, "recent_rewards": list(progress.recent_rewards),
                 "best_eval": progress.best_eval,
                 "actor": actor.state_dict(), "critic": critic.state_dict(),
                 "critic_optimizer": critic_optimizer.state_dict(), "rng": rng, "critic_fit": critic_fit},
                path)


def restore_checkpoint(checkpoint, path, actor, critic, critic_optimizer, sampler):
    """Load what save_checkpoint wrote into freshly built objects; returns the Progress.

    The optimizer keeps its moments but takes the settings it was made with now: the learning rate
    the flags give, and fused Adam (a /2 checkpoint's optimizer was not fused).
    """
    try:
        actor.load_state_dict(checkpoint["actor"])
        critic.load_state_dict(checkpoint["critic"])
        load_moments(critic_optimizer, checkpoint["critic_optimizer"])
        sampler.set_rng_state(checkpoint["rng"])
        return Progress(checkpoint["iteration"], checkpoint["total_steps"], checkpoint["episodes"],
                        deque(checkpoint["recent_rewards"], maxlen=100), checkpoint["best_eval"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise damaged(path, "checkpoint", e) from None


def load_checkpoint(path):
    """The checkpoint dict if path is a checkpoint.pth, None if it is a model.pth (raises UserError otherwise)."""
    data = safe_load(path, "model or checkpoint")
    if isinstance(data, dict) and data.get("format") in READABLE_CHECKPOINTS:
        return data
    if isinstance(data, dict) and data.get("format") == POLICY_FORMAT:
        return None
    if isinstance(data, dict) and str(data.get("format")).startswith("trpo-checkpoint/"):
        raise UserError(f"checkpoint '{path}' has format {data['format']}, from another version of trpo "
                        f"(this one reads {CHECKPOINT_FORMAT}); start a new run, or continue it with that version")
    raise UserError(f"'{path}' is neither a trpo model.pth nor a checkpoint.pth; "
                    "pass a file that train.py wrote")

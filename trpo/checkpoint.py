"""model.pth: the policy plus what is needed to rebuild it. Written atomically, loaded safely."""
import os

import torch

from trpo.errors import UserError
from trpo.model import Actor

POLICY_FORMAT = "trpo-policy/1"


def atomic_save(obj, path):
    """torch.save to path via a temporary file and a rename: a crash leaves the old file intact."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def safe_load(path, what="model"):
    """torch.load(weights_only=True): tensors and plain containers only, never arbitrary code."""
    if not os.path.isfile(path):
        raise UserError(f"{what} file '{path}' does not exist; train one with 'python train.py' or pass --load_model PATH")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, wrong format, or a pickle that asks for code
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load {what} file '{path}': it is corrupt, truncated or not a trpo file "
                        f"({first_line[:160]})") from None


def save_policy(path, actor, env_name, state_size, action_size, hidden_size):
    atomic_save({"format": POLICY_FORMAT, "env_name": env_name, "state_size": state_size,
                 "action_size": action_size, "hidden_size": hidden_size,
                 "actor": actor.state_dict()}, path)


def load_policy(path):
    """Rebuild the actor saved by save_policy. Returns (actor, info dict)."""
    data = safe_load(path)
    if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
        raise UserError(f"'{path}' is not a trpo policy file (expected format {POLICY_FORMAT}); "
                        "pass the model.pth that train.py wrote")
    try:
        actor = Actor(data["state_size"], data["action_size"], data["hidden_size"])
        actor.load_state_dict(data["actor"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"'{path}' is a damaged trpo policy file ({type(e).__name__}: {str(e)[:120]}); "
                        "train a new one with 'python train.py'") from None
    actor.eval()
    return actor, data

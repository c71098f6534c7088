"""Ray, the optional engine of rollout workers (--sampler ray) and of the benchmarks' seed sweeps.

connect(address, num_cpus) is where a run meets Ray: with no address it starts a Ray of its own
on this machine (and stops it at the end), bound to the loopback interface only, so nothing on the
network can reach it; 'auto' or host:port joins a running cluster (and leaves it running).
"""
import contextlib
import importlib
import os
import socket

from trpo.errors import UserError

INSTALL = "pip install 'ray>=2.40' (in a checkout of trpo: pip install -r requirements-ray.txt, or pip install '.[ray]')"


def import_ray():
    """The ray module, or a UserError saying how to install it."""
    try:
        return importlib.import_module('ray')
    except ImportError:
        raise UserError(f"Ray is not installed, and --sampler ray and the sweeps' Ray tasks need it: {INSTALL}") from None


@contextlib.contextmanager
def connect(address=None, num_cpus=None, runtime_env=None):
    """Within this context Ray is initialized, with runtime_env (default: this trpo package, shipped to
    every node, so a worker runs the trainer's code). A Ray the caller already initialized is used as it is.
    address None: a Ray for this run alone, with num_cpus CPUs, on 127.0.0.1. Set before Ray is first
    imported, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray use the loopback address; RAY_USAGE_STATS_ENABLED=0
    keeps it from reporting usage; RAY_worker_niceness=0 runs its workers at this process's priority (Ray's
    default, 15, leaves the workers, which do the run's sampling, only what other processes leave over).
    A setting of the user's own wins."""
    if address is None or is_loopback(address):  # else Ray swaps 127.0.0.1 for this machine's network address
        for name, value in (('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0'), ('RAY_USAGE_STATS_ENABLED', '0'),
                            ('RAY_worker_niceness', '0')):
            os.environ.setdefault(name, value)
    ray = import_ray()
    if address not in (None, 'auto') and '://' not in address:
        check_listening(address)
    if ray.is_initialized():
        yield ray
        return
    package = os.path.dirname(os.path.abspath(__file__))
    options = dict(include_dashboard=False, logging_level='ERROR', runtime_env=runtime_env or {'py_modules': [package]})
    try:
        if address is None:
            ray.init(address='local', num_cpus=num_cpus, _node_ip_address='127.0.0.1', **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as e:
        where = f"the Ray cluster at '{address}'" if address else 'a local Ray'
        raise UserError(f"cannot start or reach {where} ({first_line(e)}); start one with 'ray start --head', "
                        "or drop --address to start one for this run") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def is_loopback(address):
    return address.rsplit(':', 1)[0] in ('localhost', '[::1]', '::1') or address.startswith('127.')


def check_listening(address):
    """A UserError at once if nothing accepts connections at host:port (Ray would retry for minutes)."""
    host, _, port = address.rpartition(':')
    if not host or not port.isdigit():
        raise UserError(f"--address '{address}' must be 'auto' or host:port, such as 127.0.0.1:6379")
    try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=5).close()
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise UserError(f"--address '{address}': no Ray cluster answers there ({reason}); start one with "
                        "'ray start --head', pass its host:port or 'auto', or drop --address to start one for "
                        "this run") from None


def first_line(error):
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:160]

"""Where and when step 2 runs: update_critic, beside the next batch's sampling.

The actor's update (steps 3-6) uses the values from before the fit, and sampling the next batch
needs only the updated actor, so nothing waits for the fit until the next batch's values. With
--critic_process the fit runs in a second process meanwhile, on a second core. The result is the
same bit for bit: the fit draws its minibatches from a generator of its own (its seed derived from
--seed), and both processes run the same update_critic on the same network and normalized states.
"""
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple

import numpy as np
import torch

from trpo.checkpoint import load_moments
from trpo.model import Critic
from trpo.utils import update_critic


class CriticJob(NamedTuple):
    """One fit: inputs (T, state_size), the states as the critic's network sees them (normalized with the
    statistics of the batch's sampling); targets (T,); the minibatch generator's state before the fit;
    lr, Adam's learning rate when the fit was started (a resume with another --critic_lr takes it from then on)."""
    inputs: torch.Tensor
    targets: torch.Tensor
    epochs: int
    batch_size: int
    generator: torch.Tensor
    lr: float


def critic_seed(seed):
    """The seed of the critic's minibatch generator: one of its own, derived from --seed. Seeded with --seed
    itself it would replay the very random numbers torch's global generator turns into action noise."""
    return int(np.random.SeedSequence([seed, 2]).generate_state(1)[0])


def network_state(critic):
    """The critic's layers (its state_dict without the running statistics it shares or keeps)."""
    return {k: v for k, v in critic.state_dict().items() if k.startswith('fc')}


def make_critic_optimizer(critic, lr):
    """Adam over the critic's parameters; fused: one kernel for all of them (about 20% less time per step)."""
    return torch.optim.Adam(critic.parameters(), lr=lr, fused=True)


def run_job(weights, optimizer_state, job):
    """Step 2 on job: update_critic on a critic with these layers (weights: network_state) and an Adam with
    this state at the job's learning rate, the minibatches drawn from the job's generator. The critic sees
    job.inputs, already normalized, so it needs no statistics. The same here and in the worker process.
    Returns the layers', the optimizer's and the generator's state after the fit."""
    hidden, state_size = weights['fc1.weight'].shape
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: they must not draw torch's
        critic = Critic(state_size, hidden)  # random numbers, which in the trainer are the next action noise
    critic.load_state_dict(weights)
    optimizer = make_critic_optimizer(critic, job.lr)
    load_moments(optimizer, optimizer_state)
    generator = torch.Generator()
    generator.set_state(job.generator)
    update_critic(critic, optimizer, job.inputs, job.targets, job.epochs, job.batch_size, generator)
    return network_state(critic), optimizer.state_dict(), generator.get_state()


def worker_context():
    """fork on Linux (the worker starts in milliseconds, and a script calling trpo.train needs no
    `if __name__ == '__main__'` guard, as for PyTorch's DataLoader workers); spawn elsewhere (macOS,
    Windows), where fork is unsafe or missing."""
    return multiprocessing.get_context('fork' if sys.platform.startswith('linux') else 'spawn')


def _init_worker(threads, trainer):
    for signum in (signal.SIGINT, signal.SIGTERM):  # the trainer's to handle: it finishes the iteration and
        signal.signal(signum, signal.SIG_IGN)       # saves (a whole process group gets them from Ctrl-C, scancel)
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_without, args=(trainer,), daemon=True).start()


def _exit_without(trainer):
    """End the worker within a second of its trainer's end, however that ended (SIGKILL included)."""
    while os.getppid() == trainer:
        time.sleep(1.0)
    os._exit(0)


def pack(obj):
    """Tensors to bytes for the other process: copies, where multiprocessing would share the tensors' memory
    (the worker's Adam would then write into the trainer's optimizer state while a checkpoint is saved)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def unpack(data):
    return torch.load(io.BytesIO(data), weights_only=True)


def _fit_in_worker(message):
    """In the worker: message = pack((layers' state, optimizer state, job as a dict)); returns
    pack((run_job's result, seconds taken))."""
    start = time.perf_counter()
    weights, optimizer_state, job = unpack(message)
    return pack((run_job(weights, optimizer_state, CriticJob(**job)), time.perf_counter() - start))


class CriticFitter:
    """Where and when step 2 runs: submit(critic, optimizer, states, targets, epochs, batch_size) starts
    update_critic on one batch, with train_model's arguments, and wait() returns once critic and optimizer hold
    its result. With use_process the fit runs in a worker process while the trainer goes on (the actor's update,
    the next batch's sampling); without, it runs in this process at wait(), which the trainer calls while
    Ray's rollout workers sample, or after the local sampler's batch. Either way it is done before the next
    batch's values, and it is run_job's update_critic on the states normalized as they were sampled.

    state() and restore() carry a fit still under way through a checkpoint: restore runs it again, so a
    resumed run continues bit for bit. If the worker dies, a warning says so and the fit runs here, from
    the same state.
    """

    def __init__(self, seed, use_process=False, threads=1, warn=print):
        self.warn = warn
        self.generator = torch.Generator().manual_seed(critic_seed(seed))
        self.critic = self.optimizer = None  # those of the last fit
        self.pending, self.future = None, None
        self.worker_seconds = 0.0  # time the worker spent fitting
        self.executor = None
        if use_process:
            self.executor = ProcessPoolExecutor(1, worker_context(), initializer=_init_worker,
                                                initargs=(threads, os.getpid()))
            self.executor.submit(int).result()  # start it now, before the trainer's threads (TensorBoard's writer)

    def submit(self, critic, optimizer, states, targets, epochs, batch_size):
        """Start update_critic(critic, optimizer, states, targets, epochs, batch_size, its generator)."""
        self.wait()  # the generator's state after the last fit
        self.critic, self.optimizer = critic, optimizer
        with torch.no_grad():
            inputs = critic.obs_norm(states)
        self.start(CriticJob(inputs, targets, epochs, batch_size, self.generator.get_state(),
                             optimizer.param_groups[0]['lr']))

    def start(self, job):
        if self.executor is not None:
            message = pack((network_state(self.critic), self.optimizer.state_dict(), job._asdict()))
            try:
                self.future = self.executor.submit(_fit_in_worker, message)
                self.pending = job
                return
            except BrokenProcessPool as e:  # it died while idle
                self.lose_worker(e)
        self.pending, self.future = job, None  # fitted here, in wait()

    def wait(self):
        if self.pending is None:
            return
        job, self.pending = self.pending, None
        result = None
        if self.future is not None:
            try:
                result, seconds = unpack(self.future.result())
                self.worker_seconds += seconds
            except BrokenProcessPool as e:  # it died while fitting
                self.lose_worker(e)
        if result is None:
            result = run_job(network_state(self.critic), self.optimizer.state_dict(), job)
        weights, optimizer_state, generator = result
        self.critic.load_state_dict(weights, strict=False)
        load_moments(self.optimizer, optimizer_state)
        self.generator.set_state(generator)

    def lose_worker(self, error):
        self.warn(f"warning: the critic's worker process ended ({error}); fitting in this process from now on")
        self.executor.shutdown(wait=False)
        self.executor = None

    def state(self):
        """What a checkpoint keeps: the generator, and the fit under way (its job), if any."""
        return {'generator': self.generator.get_state(), 'pending': self.pending._asdict() if self.pending else None}

    def restore(self, state, critic, optimizer):
        """Continue from state(): critic and optimizer hold what they held before the pending fit."""
        self.critic, self.optimizer = critic, optimizer
        self.generator.set_state(state['generator'])
        if state['pending'] is not None:
            self.start(CriticJob(**state['pending']))

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None

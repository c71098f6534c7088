"""Step 2, the critic's fit, optionally in a process of its own, beside the next batch's sampling.

The actor's update (steps 3-6) uses the values from before the fit, and sampling the next batch
needs only the updated actor, so nothing waits for the fit until the next batch's values. With
--critic_process the fit runs in a second process meanwhile, on a second core. The result is the
same bit for bit: the fit draws its minibatches from a generator of its own (its seed derived from --seed), and
the worker fits the same network on the same normalized states as the training process would.
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

from trpo.model import Critic
from trpo.utils import minibatches


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


def load_moments(optimizer, state):
    """Load an optimizer's state_dict (Adam's step counts and moments) into optimizer, which keeps the
    settings it was made with (learning rate, fused): load_state_dict alone would take the saved ones."""
    settings = {k: v for k, v in optimizer.param_groups[0].items() if k != 'params'}
    optimizer.load_state_dict(state)
    optimizer.param_groups[0].update(settings)


@torch.no_grad()
def fit_critic_layers(critic, optimizer, inputs, targets, epochs, batch_size, generator):
    """Step 2 as update_critic does it (the same minibatches and Adam steps), with the gradient of
    J = mean (v - y)^2 written out instead of taken by autograd: about 20% less time per step on a
    256-unit critic (docs/performance.md). inputs: the states already normalized. For a minibatch of B rows x,

        h1 = tanh(x W1^T + b1),  h2 = tanh(h1 W2^T + b2),  v = h2 W3^T + b3
        dv = 2 (v - y) / B:             dW3 = dv^T h2,   db3 = sum_rows dv
        dz2 = (dv W3) * (1 - h2^2):     dW2 = dz2^T h1,  db2 = sum_rows dz2
        dz1 = (dz2 W2) * (1 - h1^2):    dW1 = dz1^T x,   db1 = sum_rows dz1
    """
    layers = critic.fc1, critic.fc2, critic.fc3
    for layer in layers:
        for param in (layer.weight, layer.bias):
            if param.grad is None:
                param.grad = torch.zeros_like(param)
    (w1, b1), (w2, b2), (w3, b3) = ((layer.weight, layer.bias) for layer in layers)
    for rows in minibatches(len(inputs), epochs, batch_size, generator):
        x, y = inputs[rows], targets[rows]
        h1 = torch.tanh(torch.addmm(b1, x, w1.T))
        h2 = torch.tanh(torch.addmm(b2, h1, w2.T))
        dv = (torch.addmm(b3, h2, w3.T) - y.unsqueeze(-1)).mul_(2.0 / len(y))
        torch.mm(dv.T, h2, out=w3.grad)
        torch.sum(dv, 0, out=b3.grad)
        dz2 = torch.mm(dv, w3).mul_(1 - h2 * h2)
        torch.mm(dz2.T, h1, out=w2.grad)
        torch.sum(dz2, 0, out=b2.grad)
        dz1 = torch.mm(dz2, w2).mul_(1 - h1 * h1)
        torch.mm(dz1.T, x, out=w1.grad)
        torch.sum(dz1, 0, out=b1.grad)
        optimizer.step()


def run_job(critic, optimizer, job):
    """Fit the critic's layers on job, at the job's learning rate; returns the generator's state after it.
    The optimizer keeps the learning rate it had."""
    generator = torch.Generator()
    generator.set_state(job.generator)
    lr = optimizer.param_groups[0]['lr']
    optimizer.param_groups[0]['lr'] = job.lr
    fit_critic_layers(critic, optimizer, job.inputs, job.targets, job.epochs, job.batch_size, generator)
    optimizer.param_groups[0]['lr'] = lr
    return generator.get_state()


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
    """In the worker: message = pack((layers' state, optimizer state, job as a dict)); fits a critic with
    those layers and returns pack((their new state, the optimizer's, the generator's, seconds taken))."""
    start = time.perf_counter()
    weights, optimizer_state, job = unpack(message)
    hidden, state_size = weights['fc1.weight'].shape
    critic = Critic(state_size, hidden)
    critic.load_state_dict(weights)
    optimizer = make_critic_optimizer(critic, job['lr'])
    optimizer.load_state_dict(optimizer_state)
    generator = run_job(critic, optimizer, CriticJob(**job))
    return pack((network_state(critic), optimizer.state_dict(), generator, time.perf_counter() - start))


class CriticFitter:
    """Fits the critic (step 2) in a worker process while the trainer goes on (use_process), or in this
    process when the trainer waits for it, which is then free to wait for Ray's rollout workers meanwhile.

    fit(states, targets, epochs, batch_size) starts a fit; wait() returns once the critic and its
    optimizer hold its result. state() and restore() carry a fit still under way through a checkpoint:
    restore runs it again, so a resumed run continues bit for bit. If the worker dies, a warning says so
    and the fit runs here, from the same state.
    """

    def __init__(self, critic, optimizer, seed, use_process=False, threads=1, warn=print):
        self.critic, self.optimizer, self.warn = critic, optimizer, warn
        self.generator = torch.Generator().manual_seed(critic_seed(seed))
        self.pending, self.future = None, None
        self.worker_seconds = 0.0  # time the worker spent fitting
        self.executor = None
        if use_process:
            self.executor = ProcessPoolExecutor(1, worker_context(), initializer=_init_worker,
                                                initargs=(threads, os.getpid()))
            self.executor.submit(int).result()  # start it now, before the trainer's threads (TensorBoard's writer)

    def fit(self, states, targets, epochs, batch_size):
        self.wait()  # the generator's state after the last fit
        with torch.no_grad():
            inputs = self.critic.obs_norm(states)
        self.start(CriticJob(inputs, targets, epochs, batch_size, self.generator.get_state(),
                             self.optimizer.param_groups[0]['lr']))

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
        if self.future is None:
            self.generator.set_state(run_job(self.critic, self.optimizer, job))
            return
        try:
            weights, optimizer_state, generator, seconds = unpack(self.future.result())
        except BrokenProcessPool as e:  # it died while fitting
            self.lose_worker(e)
            self.generator.set_state(run_job(self.critic, self.optimizer, job))
            return
        self.worker_seconds += seconds
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

    def restore(self, state):
        """Continue from state(): the critic and optimizer hold what they held before the pending fit."""
        self.generator.set_state(state['generator'])
        if state['pending'] is not None:
            self.start(CriticJob(**state['pending']))

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None

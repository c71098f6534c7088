"""--sampler ray: the batch is sampled by num_workers Ray actors, each with a vector env of num_envs
environments, on this machine or across a cluster; the update (steps 1-6) stays in the trainer.

Every iteration the trainer sends the actor (its weights and observation statistics) and each worker's
random number generators; each worker collects whole episodes until it holds ceil(total_sample_size /
num_workers) steps with collect_trajectories, the local sampler's function, and returns them with its
generators' new states. The batch is worker 0's episodes, then worker 1's, and so on: whole episodes
of the current policy, at least total_sample_size steps in all.

Since the trainer holds every worker's generators, a run is seeded (the same seed and worker count give
the same batches), a checkpoint holds them (a resumed run goes on bit for bit), and a worker that dies
costs nothing but time: Ray restarts it, and the iteration's batch is collected again from the same
states (Ray sends its sample() call to the new process), so it is the batch the lost worker would have returned. Worker 0 starts from the trainer's own
generators and environment seeds, so --num_workers 1 samples the very batches of --sampler local.
"""
import contextlib
import os

import numpy as np
import torch

from trpo.cluster import connect, first_line, import_ray
from trpo.config import usable_cpus
from trpo.envs import make_env, make_vector_env
from trpo.errors import UserError
from trpo.sampler import Rollout, collect_trajectories, rng_state, set_rng_state, steps_per_sampler
from trpo.update import Batch

RETRIES = 3  # times a worker's share of one batch is sampled again after the worker died, before the run stops
START_SECONDS = 300  # for the workers to start (a node may first install the run's code, and import torch)


class RolloutWorker:
    """A Ray actor (ray.remote(RolloutWorker)): num_envs environments in a vector env of their own."""

    def __init__(self, env_name, num_envs, vector_mode, threads):
        torch.set_num_threads(threads)
        self.envs = make_vector_env(env_name, num_envs, vector_mode)

    def sample(self, actor, steps, seed, rng):
        """Whole episodes of actor until they hold at least steps steps, from the generators rng (rng_state();
        its 'envs' empty before the environments' first, seeded, reset). Returns (Rollout, rng after it, where())."""
        set_rng_state(self.envs if rng['envs'] else None, rng)
        rollout = collect_trajectories(self.envs, actor, steps, seed=seed)
        return rollout, rng_state(self.envs), self.where()

    def where(self):
        """(node id, process id) of this worker."""
        return import_ray().get_runtime_context().get_node_id(), os.getpid()


def cause(error):
    """What went wrong on the worker: a RayTaskError's own exception, else the last line of Ray's message (the
    exception a worker's __init__ raised ends it)."""
    if getattr(error, 'cause', None) is not None:
        return first_line(error.cause)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:200]


def worker_seed(seed, index):
    """The torch seed of worker index >= 1 (worker 0 continues the trainer's generator), derived from --seed."""
    return int(np.random.SeedSequence([seed, 3, index]).generate_state(1)[0])


def merge(rollouts):
    """One Rollout of the workers' rollouts, end to end: episode end steps count the steps of the workers before."""
    offsets = np.cumsum([0] + [len(r.batch.rewards) for r in rollouts[:-1]])
    batch = Batch(*(torch.cat(parts) for parts in zip(*(r.batch for r in rollouts))))
    return Rollout(batch, [x for r in rollouts for x in r.episode_returns],
                   [x for r in rollouts for x in r.episode_lengths],
                   [int(offset) + s for r, offset in zip(rollouts, offsets) for s in r.episode_end_steps])


class RaySampler:
    """The sampler of --sampler ray (LocalSampler's interface), on the Ray of config.address (trpo.cluster.connect):
    one started for the run, and stopped by close(), or a cluster's. console: its print and warn say where
    the workers are, and what went wrong."""

    def __init__(self, config, console):
        self.warn, self.workers = console.warn, []
        self.connection = contextlib.ExitStack()  # connect sets Ray's environment before Ray is first imported
        self.ray = self.connection.enter_context(connect(config.address, num_cpus=config.num_workers))
        if config.address is None and config.num_workers > usable_cpus():
            console.warn(f"--num_workers {config.num_workers} on {usable_cpus()} CPUs: the workers share them")
        try:
            self.start(config)
        except BaseException:
            self.close()
            raise
        nodes = len({node for node, _ in self.places})
        console.print(f"{config.num_workers} rollout workers of {config.num_envs} environments each, on "
                      f"{nodes} Ray node{'s' if nodes > 1 else ''}")

    def start(self, config):
        probe = make_env(config.env_name)  # checks the id, here, with a clear message
        self.single_observation_space, self.single_action_space = probe.observation_space, probe.action_space
        probe.close()
        self.seed, self.num_envs = config.seed, config.num_envs
        self.steps = steps_per_sampler(config)
        cpus = self.ray.cluster_resources().get('CPU', 0)
        if cpus < config.num_workers:
            raise UserError(f"--num_workers {config.num_workers} needs as many CPUs in the Ray cluster, which has "
                            f"{cpus:g}; pass a smaller --num_workers or add nodes")
        # a worker that dies is restarted, and its sample() call sent to it again (it holds all it needs)
        worker = self.ray.remote(RolloutWorker).options(num_cpus=1, max_restarts=-1, max_task_retries=RETRIES)
        self.workers = [worker.remote(config.env_name, config.num_envs, config.vector_mode, config.threads)
                        for _ in range(config.num_workers)]
        try:
            self.places = self.ray.get([w.where.remote() for w in self.workers], timeout=START_SECONDS)
        except self.ray.exceptions.RayError as e:  # an environment or package missing on a node, no free CPU, ...
            raise UserError(f"the rollout workers did not start within {START_SECONDS} s ({cause(e)}); check that "
                            "every node has the packages this run needs, and free CPUs") from None
        self.rng = None  # each worker's generators before its next batch

    def first_rng(self):
        """Worker 0: the trainer's generators as they are; worker i: torch seeded with worker_seed(seed, i)."""
        mine = rng_state()
        return [mine] + [{**mine, 'torch': torch.Generator().manual_seed(worker_seed(self.seed, i)).get_state()}
                         for i in range(1, len(self.workers))]

    def collect(self, actor, seed=None, meanwhile=lambda: None):
        """One batch; meanwhile() runs here while the workers sample. seed: the environments' first reset
        (worker i's sub-environment j: seed + i * num_envs + j, as one vector env of all would seed them)."""
        if self.rng is None:
            self.rng = self.first_rng()
        shared = self.ray.put(actor)
        refs = [w.sample.remote(shared, self.steps, None if seed is None else seed + i * self.num_envs, rng)
                for i, (w, rng) in enumerate(zip(self.workers, self.rng))]
        meanwhile()
        try:
            rollouts, rng, places = zip(*self.ray.get(refs))
        except self.ray.exceptions.RayActorError as e:
            raise UserError(f"a rollout worker died {RETRIES + 1} times in one batch ({cause(e)}); check the "
                            "Ray cluster's nodes, then continue from the checkpoint") from None
        except self.ray.exceptions.RayError as e:  # an error inside sample(), or the batch lost on its way
            raise UserError(f"a rollout worker failed to sample ({cause(e)}); continue from the checkpoint "
                            "once the cause is fixed") from None
        for i, (was, now) in enumerate(zip(self.places, places)):
            if now != was:
                self.warn(f"rollout worker {i} was lost (process {was[1]}) and Ray restarted it (process {now[1]}); "
                          "the new process sampled its share of this batch from the same random states, so the "
                          "batch is the one the lost worker would have sent")
        self.rng, self.places = list(rng), list(places)
        return merge(rollouts)

    def rng_state(self):
        return {**rng_state(), 'workers': self.rng}

    def set_rng_state(self, state):
        set_rng_state(None, state)
        self.rng = state['workers']

    def close(self):
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []
        self.connection.close()

"""What a training run prints: on a terminal, a progress bar (steps or iterations done of the budget,
rate, ETA, the 100-episode average) above which the slides' periodic line scrolls; elsewhere (a log
file, a pipe) only the periodic lines. quiet: nothing but warnings."""
import sys

from tqdm import tqdm


def iterations(n):
    return f"{n} iteration{'' if n == 1 else 's'}"


class Console:
    def __init__(self, config):
        self.config, self.bar = config, None

    def print(self, text):
        if not self.config.quiet:
            (self.bar.write if self.bar else print)(text)

    def warn(self, text):
        line = f'warning: {text}'
        tqdm.write(line, file=sys.stderr) if self.bar else print(line, file=sys.stderr)

    def start(self, progress):
        """Open the progress bar, if stdout is a terminal and there is a budget to measure against."""
        c = self.config
        if c.quiet or not sys.stdout.isatty() or (c.max_env_steps is None and c.max_iter_num is None):
            return
        if c.max_env_steps is not None:
            self.bar = tqdm(total=c.max_env_steps, initial=progress.total_steps, unit='step', unit_scale=True,
                            dynamic_ncols=True, desc=c.env_name)
        else:
            self.bar = tqdm(total=c.max_iter_num, initial=progress.iteration, unit='it', dynamic_ncols=True,
                            desc=c.env_name)

    def update(self, progress, record):
        if self.bar is not None:
            self.bar.set_postfix(avg100=f'{record.avg100:.1f}', refresh=False)
            self.bar.update(min(progress.total_steps, self.bar.total) - self.bar.n
                            if self.config.max_env_steps is not None else 1)
        if (progress.iteration - 1) % self.config.log_interval == 0:  # the slides' line, 0-based iteration
            self.print(f'{progress.iteration - 1} iter | {progress.episodes} episode | {progress.total_steps} steps | '
                       f'score_avg: {record.avg100:.2f}')

    def evaluated(self, progress, mean):
        self.print(f'evaluation after {progress.total_steps} steps: mean return {mean:.2f} over '
                   f'{self.config.eval_episodes} deterministic episodes (best {progress.best_eval:.2f})')

    def finish(self, progress, reason, paths):
        """The last line: why training stopped and which files it wrote."""
        self.close()
        files = ', '.join(paths[k] for k in ('model', 'best_model', 'checkpoint') if k in paths)
        self.print(f'stopped after {iterations(progress.iteration)} ({progress.total_steps} steps): {reason}; '
                   f'saved {files}; TensorBoard logs in {paths["run_dir"]}')

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

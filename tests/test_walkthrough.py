"""docs/walkthrough.ipynb, the slides' update step by step, from a clean kernel: each check cell asserts, so a
wrong step fails here; the shapes it prints are the slides'; it writes nothing into the checkout."""
import os
import subprocess

import nbclient
import nbformat
import pytest

from test_scripts import ROOT

pytestmark = pytest.mark.integration


def git_status():
    return subprocess.run(['git', '-C', ROOT, 'status', '--porcelain'], capture_output=True, text=True).stdout


def test_the_walkthrough_runs_from_a_clean_kernel_prints_the_slides_shapes_and_writes_nothing(tmp_path, monkeypatch):
    notebook = nbformat.read(os.path.join(ROOT, 'docs', 'walkthrough.ipynb'), as_version=4)
    before = git_status()
    monkeypatch.setenv('PYTHONPATH', ROOT)  # the kernel imports this checkout's trpo
    monkeypatch.setenv('TMPDIR', str(tmp_path))  # the training's files
    nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                            resources={'metadata': {'path': str(tmp_path)}}).execute()  # raises if a cell fails
    text = ''.join(out.get('text', '') for cell in notebook.cells for out in cell.get('outputs', []))
    for shape in ('Total  4481', 'state   (2200, 3)', 'action  (2200, 1)', 'returns (2200,)', 'targets (2200, 1)',
                  'actor_loss_grad (4481,)', 'search_dir (4481,)'):
        assert shape in text, shape
    assert 'goal after' in text and sum(out.get('output_type') == 'display_data' for cell in notebook.cells
                                        for out in cell.get('outputs', [])) == 2  # the learning curve, the frames
    assert git_status() == before

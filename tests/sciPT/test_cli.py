"""sciPT.cli: what the ``scipt`` command does around every handler."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# One gloo process shards a model with FSDP2 (DTensor parameters on a device mesh), trains a step
# and tears down as the scipt command does after a multi-process run. The group's worker threads
# are threads of this process: they must be gone, joined while the interpreter is whole, not left
# to finalization (where freeing them aborted a finished rank in CI).
FSDP2_TEARDOWN = textwrap.dedent(
    """
    import os, sys
    import torch, torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from sciPT.cli import close_process_group

    def threads():
        return len(os.listdir("/proc/self/task"))

    alone = threads()
    dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    model(torch.randn(3, 4)).sum().backward()
    del model
    with_group = threads()
    close_process_group()
    print(alone, with_group, threads(), dist.is_initialized())
    """
)


def test_closing_after_fsdp2_joins_the_groups_threads_before_exit(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", FSDP2_TEARDOWN, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone, with_group, after, initialized = proc.stdout.split()
    assert int(with_group) > int(alone)  # the group's threads ran (the check below can fail)
    assert int(after) == int(alone)
    assert initialized == "False"

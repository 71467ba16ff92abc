"""The PyTorch side of `npm run bench:train` (bench/torch/twin-process.ts starts it).

Reads one JSON request a line on stdin and answers one JSON line on stdout:
  {"op": "build", "id": "...", "workload": "reference", "size": 64, "batch": 16}
      -> {"ok": true, "parameters": {"trainable": n, "total": n}}
  {"op": "steps", "id": "...", "warmup": 2, "steps": 5}
      -> {"ok": true, "stepsMs": [...], "cpuMs": [...], "lastLoss": x}
The first line it writes says whether torch loaded. Runs on one thread, like the tfjs side.
"""

import json
import os
import sys
import time

# No __pycache__ beside the twins in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


try:
    import torch
except ImportError as error:
    reply({"ok": False, "missing": "torch", "error": str(error)})
    sys.exit(0)

# Both pools: intra-op (kernels) and inter-op (independent ops); set before any parallel work.
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
torch.manual_seed(7)

import moco  # noqa: E402
import multitask  # noqa: E402
import reference_model  # noqa: E402
import small_cnn  # noqa: E402

WORKLOADS = {
    "reference": reference_model.build,
    "small-cnn": small_cnn.build,
    "multitask": multitask.build,
    "moco": moco.build,
}

built = {}


def build(request):
    name = request["workload"]
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    step, parameters = WORKLOADS[name](request["size"], request["batch"])
    built[request["id"]] = step
    return {"parameters": parameters}


def steps(request):
    step = built[request["id"]]
    for _ in range(request["warmup"]):
        step()
    steps_ms, cpu_ms, loss = [], [], float("nan")
    for _ in range(request["steps"]):
        wall, cpu = time.perf_counter(), time.process_time()
        loss = step()
        cpu_ms.append((time.process_time() - cpu) * 1000)
        steps_ms.append((time.perf_counter() - wall) * 1000)
    return {"stepsMs": steps_ms, "cpuMs": cpu_ms, "lastLoss": loss}


OPS = {"build": build, "steps": steps}

reply({"ok": True, "torch": torch.__version__, "threads": [torch.get_num_threads(), torch.get_num_interop_threads()]})
for line in sys.stdin:
    request = json.loads(line)
    try:
        reply({"ok": True, **OPS[request["op"]](request)})
    except Exception as error:  # the bench shows the message in the row of this workload
        reply({"ok": False, "error": f"{type(error).__name__}: {error}"})

#!/usr/bin/env bash
# One-shot check of a GPU host, prepared to run unattended within 10 minutes on a machine with
# no registry access (node_modules must already be installed):
#
#   bash bench/gpu-check.sh OUT_DIR        # or: OUT=OUT_DIR bash bench/gpu-check.sh
#
# Steps, each under its own timeout (90 + 80 + 150 + 240 s, each plus 10 s to be killed, so the
# check ends within 10 minutes): (1) load the GPU backend (on failure, the loader's diagnosis
# names the missing CUDA/cuDNN library and the fix); (2) the reference model's gradients on it
# against the CPU backend; (3) the training benchmark, GPU beside wasm; (4) a 3-hospital
# simulation on it. Everything lands in OUT_DIR (logs, summary.txt, summary.json).
#
# Exit code: 0 every step passed; 1 a step failed or timed out; 2 the GPU backend is unavailable
# here (the steps that need it are reported "unavailable", not run).
#
# GPU_CHECK_BACKEND (default tensorflow-gpu) runs the same steps on another backend, e.g. wasm,
# to rehearse the script on a machine without a GPU.
set -uo pipefail

out=${1:-${OUT:-}}
if [[ -z "$out" ]]; then
  echo "usage: bash bench/gpu-check.sh OUT_DIR (or set OUT): the folder for logs and the summary" >&2
  exit 64
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$out" || exit 64
out=$(cd "$out" && pwd)
backend=${GPU_CHECK_BACKEND:-tensorflow-gpu}
cd "$repo" || exit 64

# libtensorflow 2.9 ships no SASS for GPUs newer than its build (Hopper, Ada...), so the driver
# JIT-compiles its PTX on first use: a large cache keeps that to the first step only.
export CUDA_CACHE_MAXSIZE=${CUDA_CACHE_MAXSIZE:-4294967296}
# Load only the kernels that run (CUDA 11.7+): faster start-up, less of that JIT.
export CUDA_MODULE_LOADING=${CUDA_MODULE_LOADING:-LAZY}
export TF_FORCE_GPU_ALLOW_GROWTH=true
# Keep libtensorflow's device lines ("Created device ... GPU:0"): they prove the GPU was used.
export TF_CPP_MIN_LOG_LEVEL=0

steps=()
declare -A status note seconds

# record STEP STATUS NOTE SECONDS
record() {
  steps+=("$1")
  status[$1]=$2
  note[$1]=$3
  seconds[$1]=$4
  printf '%-14s %-12s %5ss  %s\n' "$1" "$2" "$4" "$3"
}

# run_step STEP TIMEOUT_S COMMAND...: output in $out/STEP.log; sets $step_rc and $step_s.
run_step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  step_rc=$?
  step_s=$((SECONDS - start))
}

# The first error line of a step's log (Node ends a crash with its version, not the error).
first_error() {
  grep -m1 -E '^([A-Za-z]*Error|error|Error)\b|^gradients differ' "$1" || tail -n 1 "$1"
}

# The inline scripts below read these; they run with the project's TypeScript loader (tsx).
export GPU_CHECK_REPO=$repo GPU_CHECK_BACKEND=$backend
node_ts=(node --import tsx --input-type=module -e)

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm)"
  echo "node: $(node --version)"
  echo "backend: $backend"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  else
    echo "nvidia-smi: not found"
  fi
} >"$out/host.txt"

# 1. Backend load: the loader's own diagnosis when it fails, libtensorflow's device line when not.
read -r -d '' load_script <<'JS'
const { GPU_CHECK_REPO: repo, GPU_CHECK_BACKEND: prefer } = process.env;
const { loadBackend, parseBackendPreference, DEFAULT_BACKEND_LOADER_DEPS } = await import(
  `${repo}/shared/src/ml/tf/backend.ts`
);
const { tf } = await loadBackend(
  { prefer: parseBackendPreference(prefer), log: (line) => console.log(line) },
  DEFAULT_BACKEND_LOADER_DEPS,
);
const product = tf.tidy(() => tf.sum(tf.matMul(tf.ones([256, 256]), tf.ones([256, 256]))));
console.log(`matmul check: ${(await product.data())[0]} (expected 16777216)`);
JS
read -r -d '' diagnose_script <<'JS'
const { readFileSync } = await import("node:fs");
const { GPU_CHECK_REPO: repo, GPU_CHECK_LOG: log } = process.env;
const { scanGpuLibraries } = await import(`${repo}/shared/src/ml/tf/cuda.ts`);
const { diagnoseGpuLibraries, missingLibrariesIn } = await import(`${repo}/shared/src/ml/tf/gpu-diagnosis.ts`);
const missing = missingLibrariesIn(readFileSync(log, "utf8"));
console.log(diagnoseGpuLibraries({ missing, hostLibraries: scanGpuLibraries() }));
JS
run_step backend-load 90 "${node_ts[@]}" "$load_script"
if [[ $step_rc -eq 0 ]] && grep -q 'matmul check: 16777216 ' "$out/backend-load.log"; then
  gpu_ok=1
  line=$(grep -m1 '^tf backend:' "$out/backend-load.log")
  if [[ $backend == tensorflow-gpu ]]; then
    if device=$(grep -m1 -o 'Created device [^ ]*GPU:0 with [0-9]* MB memory.*' "$out/backend-load.log"); then
      record backend-load ok "$line; $device" "$step_s"
    else
      # libtensorflow fell back to the CPU; its dso_loader warnings in the log say which library.
      gpu_ok=0
      why=$(GPU_CHECK_LOG="$out/backend-load.log" timeout 30 "${node_ts[@]}" "$diagnose_script" 2>&1)
      record backend-load failed "tfjs-node-gpu loaded but created no GPU device (runs on the CPU): ${why:-no dlopen warnings in the log}" "$step_s"
    fi
  else
    record backend-load ok "$line" "$step_s"
  fi
elif [[ $step_rc -eq 124 || $step_rc -eq 137 ]]; then
  gpu_ok=0
  record backend-load timeout "no answer in 90 s (see backend-load.log)" "$step_s"
else
  gpu_ok=0
  # The loader's refusal is the expected answer on a host without the backend; anything else is a bug.
  if why=$(grep -m1 -o 'backend "[^"]*" was requested but did not load.*\|no TensorFlow.js backend could be loaded.*' "$out/backend-load.log"); then
    record backend-load unavailable "$why" "$step_s"
  else
    record backend-load failed "$(first_error "$out/backend-load.log")" "$step_s"
  fi
fi

# 2. Gradients of the reference model (BN, strided convs, softmax) on the backend vs CPU.
if [[ $gpu_ok -eq 1 ]]; then
  read -r -d '' gradient_script <<'JS'
const { GPU_CHECK_REPO: repo, GPU_CHECK_BACKEND: prefer } = process.env;
const { loadBackend, DEFAULT_BACKEND_LOADER_DEPS } = await import(`${repo}/shared/src/ml/tf/backend.ts`);
const { buildReferenceModel } = await import(`${repo}/bench/reference-model.ts`);
await import("@tensorflow/tfjs-backend-cpu");
const { tf } = await loadBackend({ prefer, log: () => {} }, DEFAULT_BACKEND_LOADER_DEPS);
const tested = tf.getBackend();
const size = 32;
const batch = 4;
let seed = 1;
// A linear congruential generator: the same inputs and weights on both backends.
const random = (n) =>
  Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 1073741824 - 1;
  });
const model = buildReferenceModel(size);
// BN scales and variances near 1 (variance must stay positive), everything else small.
const values = model.weights.map((w) => {
  const centre = /gamma|variance/.test(w.name) ? 1 : 0;
  return random(w.shape.reduce((a, b) => a * b, 1)).map((v) => centre + 0.2 * v);
});
const xs = random(batch * size * size);
async function gradients(backend) {
  await tf.setBackend(backend);
  model.setWeights(model.weights.map((w, i) => tf.tensor(values[i], w.shape)));
  const x = tf.tensor4d(xs, [batch, size, size, 1]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 4);
  const { value, grads } = tf.variableGrads(() =>
    tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true })),
  );
  const out = [];
  for (const g of Object.values(grads)) out.push(await g.data());
  return { loss: (await value.data())[0], grads: out };
}
const reference = await gradients("cpu");
const actual = await gradients(tested);
let worst = 0;
reference.grads.forEach((r, i) => {
  let diff = 0;
  let scale = 0;
  r.forEach((v, j) => {
    diff = Math.max(diff, Math.abs(actual.grads[i][j] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  worst = Math.max(worst, Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff / (scale || 1));
});
console.log(
  `worst relative gradient error: ${worst.toExponential(2)} over ${reference.grads.length} weights (loss cpu ${reference.loss}, ${tested} ${actual.loss})`,
);
if (!(worst < 1e-3)) {
  console.error("gradients differ from the CPU backend by more than 1e-3");
  process.exit(1);
}
JS
  # TF32 (on by default on Ampere and newer) rounds products to 10 mantissa bits: compare in FP32.
  run_step gradient-check 80 env NVIDIA_TF32_OVERRIDE=0 "${node_ts[@]}" "$gradient_script"
  result=$(grep -m1 -o 'worst relative gradient error: .*' "$out/gradient-check.log")
  case $step_rc in
    0) record gradient-check ok "$result" "$step_s" ;;
    124 | 137) record gradient-check timeout "no answer in 80 s" "$step_s" ;;
    *) record gradient-check failed "${result:+$result; }$(first_error "$out/gradient-check.log")" "$step_s" ;;
  esac
else
  record gradient-check unavailable "needs the $backend backend" 0
fi

# 3. The training benchmark: the reference model, the backend beside wasm, 5 timed steps.
if [[ $gpu_ok -eq 1 ]]; then
  others=wasm
  [[ $backend == wasm ]] && others=""
  run_step train-bench 150 node --import tsx bench/train-bench.ts --workloads reference \
    --backends "$backend${others:+,$others}" --sizes 64,128 --steps 5 --rounds 1 --no-write
  rows=$(grep -c "$backend" "$out/train-bench.log")
  case $step_rc in
    0) record train-bench ok "table in train-bench.log ($rows lines name $backend)" "$step_s" ;;
    124 | 137) record train-bench timeout "no answer in 150 s" "$step_s" ;;
    *) record train-bench failed "$(first_error "$out/train-bench.log")" "$step_s" ;;
  esac
else
  record train-bench unavailable "needs the $backend backend" 0
fi

# 4. Three hospitals, two rounds, every site training on the backend.
if [[ $gpu_ok -eq 1 ]]; then
  run_step simulate 240 node bin/fl.js simulate --sites 3 --rounds 2 --images-per-site 96 --backend "$backend" \
    --out "$out/simulate-run"
  case $step_rc in
    0) record simulate ok "run folder simulate-run/" "$step_s" ;;
    124 | 137) record simulate timeout "no answer in 240 s" "$step_s" ;;
    *) record simulate failed "$(first_error "$out/simulate.log")" "$step_s" ;;
  esac
else
  record simulate unavailable "needs the $backend backend" 0
fi

# Summary: a table for people, JSON for the report that quotes it.
failed=0
unavailable=0
{
  echo "gpu-check ($backend) on $(grep '^host:' "$out/host.txt" | cut -d' ' -f2-)"
  printf '%-14s %-12s %6s  %s\n' step status seconds note
  for s in "${steps[@]}"; do
    printf '%-14s %-12s %6s  %s\n' "$s" "${status[$s]}" "${seconds[$s]}" "${note[$s]}"
    case ${status[$s]} in
      failed | timeout) failed=$((failed + 1)) ;;
      unavailable) unavailable=$((unavailable + 1)) ;;
    esac
  done
} >"$out/summary.txt"
{
  printf '{"backend":"%s","steps":[' "$backend"
  sep=""
  for s in "${steps[@]}"; do
    printf '%s{"step":"%s","status":"%s","seconds":%s,"note":"%s"}' "$sep" "$s" "${status[$s]}" \
      "${seconds[$s]}" "$(printf '%s' "${note[$s]}" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037')"
    sep=","
  done
  printf ']}\n'
} >"$out/summary.json"
echo
cat "$out/summary.txt"
if [[ $failed -gt 0 ]]; then
  echo "gpu-check: $failed step(s) failed; logs in $out" >&2
  exit 1
fi
if [[ $unavailable -gt 0 ]]; then
  echo "gpu-check: the $backend backend is unavailable here; see backend-load in $out/summary.txt" >&2
  exit 2
fi
echo "gpu-check: all steps passed; logs in $out"

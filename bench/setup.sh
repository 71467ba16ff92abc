#!/bin/sh
# npm run bench:setup: what `npm run bench:train` needs beyond `npm install`, namely Debian's
# python3-torch for the PyTorch twins (bench/torch/). `npm test` never needs it.
set -eu

PYTHON="${FL_BENCH_PYTHON:-/usr/bin/python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "$PYTHON not found: install python3 (apt-get install python3-torch brings it), or set FL_BENCH_PYTHON" >&2
  exit 1
fi

if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "python3-torch present: $("$PYTHON" -c 'import torch; print(torch.__version__)') for $PYTHON"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: install PyTorch (CPU) for $PYTHON yourself, or set FL_BENCH_PYTHON to a python that has it" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "python3-torch is missing; install it as root with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends python3-torch" >&2
  exit 1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch
"$PYTHON" -c "import torch; print('python3-torch', torch.__version__, 'installed for $PYTHON')"

#!/usr/bin/env bash
# The one place that generates TypeScript from proto/fl/v1/*.proto with ts-proto.
#   bash proto/generate.sh          regenerate proto/gen
#   bash proto/generate.sh --check  fail when the committed proto/gen is stale
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out=proto/gen
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

opts="outputServices=grpc-js,env=node,esModuleInterop=true,importSuffix=.js,forceLong=number,useOptionals=messages,oneof=unions-value,outputJsonMethods=false,useExactTypes=false"
template=$(mktemp --suffix=.buf.gen.yaml)
trap 'rm -f "$template"; [ "${1:-}" = "--check" ] && rm -rf "$out"' EXIT
cat >"$template" <<YAML
version: v2
plugins:
  - local: $root/node_modules/.bin/protoc-gen-ts_proto
    out: $out
    opt: [$opts]
YAML
rm -rf "${out:?}/fl"
npx --no-install buf generate proto --template "$template"

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out/fl" proto/gen/fl >/dev/null; then
    echo "proto/gen is stale: run 'npm run gen:proto' and commit the result." >&2
    diff -r "$out/fl" proto/gen/fl | head -20 >&2
    exit 1
  fi
  echo "proto/gen is up to date."
fi

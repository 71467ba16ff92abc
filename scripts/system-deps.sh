#!/bin/sh
# Installs the Debian packages the tests need (scripts/system-packages.txt) when run as root and
# one is missing; otherwise prints the one command that installs them. Changes nothing as any
# other user. Exits non-zero only when an install it tried failed.
set -eu
list="$(dirname "$0")/system-packages.txt"
packages=$(sed -e 's/#.*//' "$list" | tr -s ' \t\n' ' ' | sed -e 's/^ //' -e 's/ $//')

missing=""
for package in $packages; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing="$missing $package"
done
missing=${missing# }

if [ -z "$missing" ]; then
  echo "system packages for the tests: all installed ($packages)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system packages for the tests: missing $missing; install them with this system's package manager" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages for the tests: missing $missing; to install them, run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 0
fi
echo "system packages for the tests: installing $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # one word per package
apt-get install -y $packages

#!/usr/bin/env bash
# Makes sure Prometheus, promtool and Alertmanager (Debian's prometheus and
# prometheus-alertmanager packages) are installed: the alerting tests run the
# real ones. Installs them with apt-get when missing (needs root), once even
# when several test files ask at the same time. The packages try to start
# their services; without an init system they do not, and the tests start
# their own on loopback ports.
set -euo pipefail

have() { command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null; }
have && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "prometheus, promtool and prometheus-alertmanager are missing; install Debian's prometheus and prometheus-alertmanager packages (apt-get needs root)" >&2
  exit 1
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/.cache"
exec 9>"$root/.cache/apt.lock"
flock 9
have && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q prometheus prometheus-alertmanager >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null && apt-get install -y -q prometheus prometheus-alertmanager >/dev/null; }
have

#!/usr/bin/env bash
# Checks the Prometheus alerting rules and their unit tests, and the example Alertmanager
# configuration, with Debian's promtool and amtool (installed here when missing and run as root,
# the way scripts/containers.sh installs Docker). CI: `bash scripts/check-alerts.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "check-alerts: promtool/amtool missing; install them: apt-get install -y prometheus prometheus-alertmanager" >&2
    exit 2
  fi
  echo "check-alerts: installing Debian's prometheus and prometheus-alertmanager"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi

promtool check rules prometheus/alerts.yml
promtool test rules prometheus/alerts.test.yml
amtool check-config prometheus/alertmanager.yml

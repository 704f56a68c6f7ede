#!/bin/sh
# Prints Grafana's contact points and notification policy (provisioning YAML) for the
# destinations set in the environment; an unset one is left out, so it is disabled:
#   WECOM_ROBOT_URL      a WeCom group robot's webhook URL
#   DINGTALK_ROBOT_URL   a DingTalk robot's webhook URL
#   SLACK_WEBHOOK_URL    a Slack incoming webhook URL
#   ALERT_WEBHOOK_URL    any URL that takes Grafana's webhook JSON
# Usage: grafana/alerting/contact-points.sh > /etc/grafana/provisioning/alerting/contact-points.yaml
# (README, "Routing alerts"). With none set, it prints an empty provisioning file.
set -eu

# YAML single-quoted scalar: only ' needs escaping (doubled).
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

points=""
add() { # name type url
  [ -n "$3" ] || return 0
  points="$points $1"
  cat <<POINT
  - orgId: 1
    name: $1
    receivers:
      - uid: $1
        type: $2
        settings:
          url: $(quote "$3")
POINT
}

echo "apiVersion: 1"
echo "contactPoints:"
add pushloss-wecom wecom "${WECOM_ROBOT_URL:-}"
add pushloss-dingtalk dingding "${DINGTALK_ROBOT_URL:-}"
add pushloss-slack slack "${SLACK_WEBHOOK_URL:-}"
add pushloss-webhook webhook "${ALERT_WEBHOOK_URL:-}"
if [ -z "$points" ]; then
  echo "  []"
  exit 0
fi
# Every pushloss alert goes to every destination that is set.
first=${points# }
first=${first%% *}
cat <<POLICY
policies:
  - orgId: 1
    receiver: $first
    group_by: [alertname, sdkappid, stage, platform_name]
    routes:
POLICY
for point in $points; do
  cat <<ROUTE
      - receiver: $point
        object_matchers: [[grafana_folder, '=', pushloss]]
        continue: true
ROUTE
done

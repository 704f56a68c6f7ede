#!/usr/bin/env bash
# Lints the container files (CI: `bash scripts/validate-container.sh`), for what building and
# running them for real (scripts/containers.sh) does not catch: practices rather than failures.
#
#   - docker-compose.yml: dclint (compose-spec schema and best-practice rules);
#   - Dockerfile: dockerlinter (hadolint-style rules, with ShellCheck on the RUN steps);
#   - the shell scripts (scripts/, scripts/stand-ins/, grafana/init/): ShellCheck.
#
# Installs Debian's shellcheck when missing (as root, VALIDATE_INSTALL=0 to never); the linters
# come from the npm registry at pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DCLINT_VERSION=3.1.0
DOCKERLINTER_VERSION=2.0.0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushloss-lint.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

die() { printf 'validate-container: FAILED: %s\n' "$*" >&2; exit 1; }

if ! command -v shellcheck >/dev/null && [ "${VALIDATE_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; }
fi
command -v shellcheck >/dev/null || die "shellcheck is not installed (apt-get install shellcheck)"

# require-project-name-field: a top-level `name:` is what Debian's docker-compose 1.29 refuses;
# the project name is COMPOSE_PROJECT_NAME in .env instead (see docker-compose.yml).
npx --yes "dclint@$DCLINT_VERSION" docker-compose.yml --max-warnings 0 --disable-rule require-project-name-field ||
  die "dclint $DCLINT_VERSION: docker-compose.yml"
echo "validate-container: dclint $DCLINT_VERSION: docker-compose.yml, no findings (all rules but require-project-name-field)"

# --ignore-scripts: its install script downloads ShellCheck from GitHub; Debian's is used instead.
npm install --prefix "$WORK" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error \
  "dockerlinter@$DOCKERLINTER_VERSION" >/dev/null
(cd "$WORK" && node node_modules/dockerlinter/bin/dockerfilelinter.js -f "$ROOT/Dockerfile" -s sh -e info) ||
  die "dockerlinter $DOCKERLINTER_VERSION: Dockerfile"
echo "validate-container: dockerlinter $DOCKERLINTER_VERSION: Dockerfile, no findings at any level (ShellCheck on RUN)"

shellcheck scripts/*.sh scripts/stand-ins/*.sh grafana/init/*.sh || die "shellcheck"
echo "validate-container: shellcheck $(shellcheck --version | sed -n 's/^version: //p'): scripts/*.sh scripts/stand-ins/*.sh grafana/init/*.sh"

#!/usr/bin/env bash
# Checks the deployment files without Docker or a GPU (the last step of scripts/test.sh):
# the compose files parse and merge, the Prometheus config is valid, and
# tests/deploy holds the files to each other and to a real rrmd from ${RRM_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-deploy: FAILED: $*" >&2; exit 1; }

command -v docker-compose >/dev/null \
  || fail "docker-compose not found (Debian package docker-compose, listed in scripts/packages.txt: run scripts/setup.sh)"
command -v promtool >/dev/null \
  || fail "promtool not found (Debian package prometheus, listed in scripts/packages.txt: run scripts/setup.sh)"

# `config` parses, validates and merges the files; it needs no Docker daemon. The -f
# list replaces the COMPOSE_FILE of .env, so each combination is checked as named.
for files in "docker-compose.yml" \
             "docker-compose.yml docker-compose.gpu.yml" \
             "docker-compose.yml docker-compose.cpu.yml"; do
  args=()
  for f in $files; do args+=(-f "$f"); done
  echo "check-deploy: docker-compose ${args[*]} config -q"
  docker-compose "${args[@]}" config -q || fail "docker-compose ${args[*]} config: the compose files above are invalid"
done
# .env's default (the GPU box's plain `docker-compose up`).
echo "check-deploy: docker-compose config -q  (COMPOSE_FILE from .env)"
(unset COMPOSE_FILE; docker-compose config -q) || fail "docker-compose config with .env's COMPOSE_FILE is invalid"

echo "check-deploy: promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml \
  || fail "promtool check config deploy/prometheus/prometheus.yml"

echo "check-deploy: pytest tests/deploy"
RRM_BUILD_DIR="${RRM_BUILD_DIR:-build}" /usr/bin/python3 -m pytest -q tests/deploy \
  || fail "tests/deploy (the messages above name the file, the field, the expected and the found value)"
echo "check-deploy: ok"

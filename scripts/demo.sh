#!/usr/bin/env bash
# The README's first command. The full demo (service + bundled model + report)
# arrives with the embedded-default work; until then it builds and runs the
# offline measurement on the bundled test fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
mkdir -p demo-out
build/bin/rrm-measure --checkpoint tests/fixtures/trm_attn/step_0 \
  --data tests/fixtures/trm_attn/data --out demo-out/records.jsonl
echo "demo: wrote $(wc -l < demo-out/records.jsonl) records to demo-out/records.jsonl"
echo "demo: the service, bundled trained model and analysis report are not there yet."

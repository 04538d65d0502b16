#!/usr/bin/env bash
# The offline check CI runs on a pull request (docs/ci/github-actions.yml), and anyone can run locally:
#   bash tools/ci/check.sh <stack file of the PR> <deployed stack file, or "" for a first deployment> <out dir>
# Renders the PR's stack file under Pulumi's mock runtime with the deployed one as --previous (the same
# judgement `pulumi up` makes; no cluster, no credentials) and writes <out dir>/comment.md: the step
# table a reviewer reads (plan.json's step output), never the rendered objects (no scripts ConfigMap).
# Exit status: the renderer's (0 accepted, 2 refused or invalid: the comment then carries the refusal).
set -uo pipefail

config=${1:?usage: check.sh <stack file> <deployed stack file or ""> <out dir>}
deployed=${2-}
out=${3:?usage: check.sh <stack file> <deployed stack file or ""> <out dir>}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

mkdir -p "$out"
previous=()
[ -n "$deployed" ] && previous=(--previous "$deployed")
log="$out/render.log"
node --import tsx "$here/tools/render.ts" --config "$config" "${previous[@]}" --out "$out/rendered" --quiet >"$log" 2>&1
rc=$?

{
    printf '### mysql-multicluster: %s\n\n' "\`$(basename "$config")\`"
    if [ "$rc" -eq 0 ]; then
        [ -n "$deployed" ] || printf 'No deployed stack file: this is shown as a first deployment.\n\n'
        printf '```\n'
        node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).outputs.step.table + "\n")' "$out/rendered/plan.json"
        printf '```\n'
    else
        printf 'The program refuses this step (nothing would change):\n\n```\n'
        grep -E '^error: ' "$log" | head -n 5
        printf '```\n'
    fi
} >"$out/comment.md"
cat "$out/comment.md"
exit "$rc"

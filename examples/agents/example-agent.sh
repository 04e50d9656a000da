#!/bin/sh
# example-agent.sh: an EXAMPLE agent that ships with brain, so that `brain run` can be tried
# before a real agent (Claude Code) is set up. It does no real work: it reads the prompt brain
# gives it and reports what it saw. `brain init --example` puts it in agents/ and brain runs it
# as `sh agents/example-agent.sh PROMPT_FILE` in the brain repo, with BRAIN_TASK, BRAIN_AGENT,
# BRAIN_TOKEN and BRAIN_REPO set.
set -eu
prompt="$1"
title=$(grep -m1 '^# Task' "$prompt" | sed 's/^# Task:* *//' || true)
echo "Example agent: received task ${BRAIN_TASK} (\"${title}\")."
echo "Its prompt has $(wc -l < "$prompt" | tr -d ' ') lines: the overnight instructions, the task file, and any handoff for ${BRAIN_AGENT}."
echo "What is in the brain repo, for a real agent to start from:"
for f in *; do echo "- $f"; done
echo "A real agent would do the work now. The second example task needs \`writing\`, which this example agent lacks: it waits in tasks/pending/ for Claude Code. Once Claude Code is installed, set agent = \"claude-code\" under [run] in brain.toml and run \`brain run\` again."

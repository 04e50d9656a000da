#!/bin/sh
# A test agent that finishes its own task through brain (BRAIN_TASK, BRAIN_TOKEN).
"${BRAIN:-brain}" done "$BRAIN_TASK" --result "finished by the agent itself" >/dev/null

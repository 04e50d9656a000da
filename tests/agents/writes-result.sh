#!/bin/sh
# A test agent: reads the prompt file it is given (its first argument) and prints a result
# that quotes it, so a test can check what the prompt held. Sleeps $SLEEP seconds first.
sleep "${SLEEP:-0}"
echo "Result for $BRAIN_TASK by $BRAIN_AGENT, from a prompt of $(wc -l < "$1") lines:"
cat "$1"

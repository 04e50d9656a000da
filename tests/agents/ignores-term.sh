#!/bin/sh
# A test agent that ignores the polite stop (SIGTERM) and must be killed.
# Writes its pid to $1 so the test can check it is gone.
trap '' TERM
echo $$ > "$1"
echo "ignoring SIGTERM"
while true; do sleep 1; done

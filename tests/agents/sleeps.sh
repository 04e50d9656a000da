#!/bin/sh
# A test agent that works far longer than any test's timeout. Writes its pid to $1 if given.
[ -n "$1" ] && echo $$ > "$1"
echo "started $BRAIN_TASK"
sleep 300

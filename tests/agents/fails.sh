#!/bin/sh
# A test agent that fails: prints to both streams and exits 3.
echo "working on $BRAIN_TASK"
echo "something broke" >&2
exit 3

#!/bin/sh
# A test agent that starts a child that would outlive it, writes the child's pid to $1, and
# exits at once (successfully).
sleep 300 &
echo $! > "$1"
echo "left a child behind"

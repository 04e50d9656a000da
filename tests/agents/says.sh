#!/bin/sh
# A test agent that prints exactly what it is told to, as Claude Code would print it.
# Its Nth call prints $SAYS/N.out (else $SAYS/default.out) and exits with the code in
# $SAYS/N.exit (else $SAYS/default.exit, else 0). It keeps its prompt in $SAYS/N.prompt and
# its other arguments, one per line, in $SAYS/N.args. With $SAYS/N.ask it first asks that
# question about its task with `brain ask`, as an agent does.
n=$(($(cat "$SAYS/calls" 2>/dev/null || echo 0) + 1))
echo "$n" > "$SAYS/calls"
cp "$1" "$SAYS/$n.prompt"
shift
for a in "$@"; do printf '%s\n' "$a"; done > "$SAYS/$n.args"
if [ -f "$SAYS/$n.ask" ]; then brain ask "$(cat "$SAYS/$n.ask")" --task "$BRAIN_TASK" >/dev/null || exit 9; fi
out="$SAYS/$n.out"; [ -f "$out" ] || out="$SAYS/default.out"
code="$SAYS/$n.exit"; [ -f "$code" ] || code="$SAYS/default.exit"
[ -f "$out" ] && cat "$out"
if [ -f "$code" ]; then exit "$(cat "$code")"; fi
exit 0

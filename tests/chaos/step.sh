#!/bin/sh
# One step of the chaos chain (argv: its name; env: LEDGER, STEP_SLEEP). It appends a "start"
# and an "end" line (run, step, worker pid, own pid) to the ledger (O_APPEND, one short write
# each, so lines never interleave) and prints the state with n incremented and a field "<step>" =
# the new n, so a run's final state is exact: n = 5, s1 = 1 ... s5 = 5. Pure dash: a python
# start costs 30x more.
step=$1
IFS= read -r s || true
rid=${s#*\"rid\":\"}
if [ "$rid" = "$s" ]; then rid=-; else rid=${rid%%\"*}; fi
# The worker: the topmost am2z above us (exec may put a reaper, also am2z, in between).
w=$PPID
while read -r _ _ _ up _ <"/proc/$w/stat" && read -r _ c _ <"/proc/$up/stat" && [ "$c" = "(am2z)" ]; do
  w=$up
done 2>/dev/null
printf 'start %s %s %s %s\n' "$rid" "$step" "$w" "$$" >>"$LEDGER"
rest=${s#*\"n\":}
if [ "$rest" = "$s" ]; then  # no n: a wiped state goes on, so the run shows a wrong state
  m=1
  new=$s
else
  n=${rest%%[,\}]*}
  m=$((n + 1))
  new="${s%%\"n\":*}\"n\":${m}${rest#"$n"}"
fi
[ -z "$STEP_SLEEP" ] || sleep "$STEP_SLEEP"
printf 'end %s %s %s %s\n' "$rid" "$step" "$w" "$$" >>"$LEDGER"
printf '{"%s":%s,%s' "$step" "$m" "${new#\{}"

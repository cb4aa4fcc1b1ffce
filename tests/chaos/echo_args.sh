#!/bin/sh
# The injection flow's exec step: writes the state value it got in argv[1] and in $VAL exactly
# as received, so the test can see that shell metacharacters arrived as plain text.
cat >/dev/null
printf 'arg=%s|env=%s\n' "$1" "$VAL" >>"$ARGS"

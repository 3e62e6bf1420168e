#!/bin/sh
# Render an Alertmanager configuration: replace every ${NAME} with the environment's value.
#   render.sh alertmanager.yml /tmp/alertmanager.yml
# Refuses (exit 1, naming the variable) when a referenced variable is unset or empty, so a
# missing address stops the container instead of mailing nobody. POSIX sh + awk (busybox).
set -eu
in=$1
out=$2
missing=$(awk '{
  line = $0
  while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
    name = substr(line, RSTART + 2, RLENGTH - 3)
    if (ENVIRON[name] == "") print name
    line = substr(line, RSTART + RLENGTH)
  }
}' "$in" | sort -u)
if [ -n "$missing" ]; then
  echo "render.sh: set these variables: $(echo $missing)" >&2
  exit 1
fi
awk '{
  line = $0
  result = ""
  while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
    name = substr(line, RSTART + 2, RLENGTH - 3)
    result = result substr(line, 1, RSTART - 1) ENVIRON[name]
    line = substr(line, RSTART + RLENGTH)
  }
  print result line
}' "$in" > "$out"

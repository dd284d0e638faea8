#!/usr/bin/env bash
# Make gsendmail the system's sendmail: /usr/sbin/sendmail, /usr/lib/sendmail,
# /usr/bin/mailq and /usr/bin/newaliases become symlinks to it. An existing
# file that is not already a gsendmail link belongs to another MTA and is
# left alone unless FORCE=1, in which case it is kept as NAME.pre-gsendmail.
set -euo pipefail
destdir=${1:-}
target=${2:-/usr/local/bin/gsendmail}
links="/usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases"
refused=0
for l in $links; do
	path="$destdir$l"
	mkdir -p "$(dirname "$path")"
	if [ -L "$path" ] && [ "$(readlink "$path")" = "$target" ]; then
		echo "$l -> $target (already)"
		continue
	fi
	if [ -e "$path" ] || [ -L "$path" ]; then
		if [ "${FORCE:-0}" != 1 ]; then
			owner=$(dpkg -S "$l" 2>/dev/null | cut -d: -f1 || true)
			echo "refusing to replace $l${owner:+ (from package $owner)}: remove that MTA first, or run with FORCE=1 to keep it as $l.pre-gsendmail" >&2
			refused=1
			continue
		fi
		mv "$path" "$path.pre-gsendmail"
		echo "kept the old $l as $l.pre-gsendmail"
	fi
	ln -s "$target" "$path"
	echo "$l -> $target"
done
exit $refused

#!/usr/bin/env bash
# Build dist/gsendmail_VERSION_ARCH.deb with dpkg-deb from the project's own
# files: the binary from "make build", man pages, completions, example
# configurations, a DEP-5 copyright file and a changelog. The package
# provides mail-transport-agent and the sendmail, mailq and newaliases
# names, like msmtp-mta, so mailx, cron and friends use gsendmail.
#
# usage: contrib/debian/build-deb.sh [VERSION]
#   VERSION is "git describe" output (the Makefile passes it) or a Debian
#   version; it is turned into a valid Debian version:
#     v1.2.3            -> 1.2.3
#     v1.2.3-4-gabcdef  -> 1.2.3+git20261121.abcdef
#     abcdef (no tag)   -> 0.1.0~git20261121.abcdef
#   and "-dirty" becomes "+dirty"; the Debian revision "-1" is appended
#   (DEB_REVISION), so the changelog is changelog.Debian.gz.
# Environment: GOARCH selects the architecture (default: the host's).
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # the approved Go release (see the Makefile)

cd "$(dirname "$0")/../.."
root=$(pwd)

raw=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
date=$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d)

debian_version() {
    local v=$1 dirty=""
    if [[ $v == *-dirty ]]; then
        dirty="+dirty"
        v=${v%-dirty}
    fi
    if [[ $v =~ ^v?([0-9]+(\.[0-9]+)*)$ ]]; then
        echo "${BASH_REMATCH[1]}$dirty"
    elif [[ $v =~ ^v?([0-9]+(\.[0-9]+)*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
        echo "${BASH_REMATCH[1]}+git$date.${BASH_REMATCH[4]}$dirty"
    elif [[ $v =~ ^[0-9a-f]{7,40}$ ]]; then
        echo "0.1.0~git$date.$v$dirty"
    elif [[ $v =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
        echo "$v$dirty"
    else
        echo "0.1.0~git$date$dirty"
    fi
}
version=$(debian_version "$raw")-${DEB_REVISION:-1}

goarch=${GOARCH:-$(go env GOARCH)}
case $goarch in
amd64 | arm64 | i386 | riscv64 | ppc64el | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf ;;
ppc64le) arch=ppc64el ;;
*) echo "build-deb: unsupported GOARCH $goarch" >&2; exit 1 ;;
esac

# The same build as "make build" (static, stripped, version stamped), as a
# position-independent executable: Debian's hardening default, and what
# lintian expects of a static binary (static-pie).
bindir=$(mktemp -d)
bin=$bindir/gsendmail
pkg=github.com/gsendmail/gsendmail
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -buildmode=pie \
    -ldflags "-s -w -X $pkg/internal/version.Version=$raw -X $pkg/internal/version.Commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -o "$bin" ./cmd/gsendmail

stage=$(mktemp -d)
trap 'rm -rf "$stage" "$bindir"' EXIT
pkgroot=$stage/gsendmail
doc=$pkgroot/usr/share/doc/gsendmail

install -d -m 0755 "$pkgroot/DEBIAN" "$pkgroot/usr/bin" "$pkgroot/usr/sbin" "$pkgroot/usr/lib" \
    "$pkgroot/usr/share/man/man1" "$pkgroot/usr/share/man/man5" "$pkgroot/usr/share/man/man8" "$doc/examples" \
    "$pkgroot/usr/share/bash-completion/completions" "$pkgroot/usr/share/zsh/vendor-completions" \
    "$pkgroot/usr/share/fish/vendor_completions.d"

install -m 0755 "$bin" "$pkgroot/usr/bin/gsendmail"
# The sendmail interface, as msmtp-mta, dma and nullmailer provide it.
ln -s ../bin/gsendmail "$pkgroot/usr/sbin/sendmail"
ln -s gsendmail "$pkgroot/usr/bin/mailq"
ln -s gsendmail "$pkgroot/usr/bin/newaliases"
ln -s ../sbin/sendmail "$pkgroot/usr/lib/sendmail"

gzip -9n < man/gsendmail.1 > "$pkgroot/usr/share/man/man1/gsendmail.1.gz"
gzip -9n < man/gsendmail.toml.5 > "$pkgroot/usr/share/man/man5/gsendmail.toml.5.gz"
chmod 0644 "$pkgroot"/usr/share/man/man*/*.gz
# sendmail(8), mailq(8) and newaliases(8) lead to gsendmail(1); section 8
# so they do not clash with an MTA's section 1 pages of the same names.
for n in sendmail mailq newaliases; do
    ln -s ../man1/gsendmail.1.gz "$pkgroot/usr/share/man/man8/$n.8.gz"
done

install -m 0644 contrib/completions/gsendmail.bash "$pkgroot/usr/share/bash-completion/completions/gsendmail"
install -m 0644 contrib/completions/_gsendmail "$pkgroot/usr/share/zsh/vendor-completions/_gsendmail"
install -m 0644 contrib/completions/gsendmail.fish "$pkgroot/usr/share/fish/vendor_completions.d/gsendmail.fish"
install -m 0644 contrib/providers/*.toml "$doc/examples/"

# The system MTA: the submission socket and its hardened daemon, the
# maildrop watch, and the configuration template postinst installs as
# /etc/gsendmail.toml (0600 gsendmail) when there is none.
install -d -m 0755 "$pkgroot/lib/systemd/system" "$pkgroot/usr/share/gsendmail"
for u in gsendmail-submit.socket gsendmail-submit.service gsendmail-queue.socket gsendmail-pickup.path gsendmail-pickup.service; do
    install -m 0644 "contrib/systemd/system/$u" "$pkgroot/lib/systemd/system/$u"
done
install -m 0644 contrib/debian/gsendmail.toml "$pkgroot/usr/share/gsendmail/gsendmail.toml"

year=$(date -u +%Y)
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gsendmail
Source: https://github.com/gsendmail/gsendmail

Files: *
Copyright: $year The gsendmail authors
License: MIT

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
COPYRIGHT
chmod 0644 "$doc/copyright"

maintainer=${DEB_MAINTAINER:-gsendmail developers <gsendmail@packages.invalid>}
changedate=$(git log -1 --format=%cD 2>/dev/null || date -uR)
cat > "$stage/changelog.Debian" <<CHANGELOG
gsendmail ($version) unstable; urgency=medium

  * Build of $raw from the gsendmail source tree.

 -- $maintainer  $changedate
CHANGELOG
gzip -9n < "$stage/changelog.Debian" > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

size=$(du -sk --exclude=DEBIAN "$pkgroot" | cut -f1)
cat > "$pkgroot/DEBIAN/control" <<CONTROL
Package: gsendmail
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Section: mail
Priority: optional
Depends: adduser
Provides: mail-transport-agent
Conflicts: mail-transport-agent
Replaces: mail-transport-agent
Homepage: https://github.com/gsendmail/gsendmail
Description: sendmail-compatible mail submission to a smarthost
 gsendmail reads a message on standard input and submits it to a
 configured smarthost over SMTP submission, with STARTTLS or implicit TLS,
 password or OAuth2 authentication (with built-in token refresh), a fully
 qualified EHLO name, a durable queue for temporary failures and error
 messages that say what to do.
 .
 This package provides /usr/sbin/sendmail, mailq and newaliases, so
 programs such as mailx, cron, git send-email and PHP send mail through it.
 It sets it up as the machine's MTA: one account in /etc/gsendmail.toml,
 readable only by the gsendmail user that runs the daemon
 (gsendmail-submit.socket); every local user's mail goes through it.
 Run "sudo gsendmail setup --system" to add the account, or
 "gsendmail setup" for a user's own configuration.
CONTROL
chmod 0644 "$pkgroot/DEBIAN/control"

# Maintainer scripts: the gsendmail user, its directories and the
# configuration (postinst), the units enabled and started as
# dh_installsystemd would, everything removed again on purge.
units="gsendmail-submit.socket gsendmail-queue.socket gsendmail-pickup.path"
cat > "$pkgroot/DEBIAN/postinst" <<POSTINST
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
    if ! getent passwd gsendmail >/dev/null; then
        adduser --system --group --quiet --home /var/lib/gsendmail --no-create-home \\
            --gecos "gsendmail system MTA" gsendmail
    fi
    install -d -m 0700 -o gsendmail -g gsendmail /var/lib/gsendmail
    install -d -m 0711 -o gsendmail -g gsendmail /var/spool/gsendmail
    install -d -m 1733 -o gsendmail -g gsendmail /var/spool/gsendmail/maildrop
    if [ ! -e /etc/gsendmail.toml ]; then
        install -m 0600 -o gsendmail -g gsendmail /usr/share/gsendmail/gsendmail.toml /etc/gsendmail.toml
    fi
fi
if [ "\$1" = configure ] || [ "\$1" = abort-upgrade ] || [ "\$1" = abort-deconfigure ] || [ "\$1" = abort-remove ]; then
    for u in $units; do
        deb-systemd-helper unmask "\$u" >/dev/null || true
        if deb-systemd-helper --quiet was-enabled "\$u"; then
            deb-systemd-helper enable "\$u" >/dev/null || true
        else
            deb-systemd-helper update-state "\$u" >/dev/null || true
        fi
    done
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        deb-systemd-invoke restart $units >/dev/null || true
    fi
fi
exit 0
POSTINST
cat > "$pkgroot/DEBIAN/prerm" <<PRERM
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "\$1" = remove ]; then
    deb-systemd-invoke stop $units gsendmail-submit.service gsendmail-pickup.service >/dev/null || true
fi
exit 0
PRERM
cat > "$pkgroot/DEBIAN/postrm" <<POSTRM
#!/bin/sh
set -e
if [ "\$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "\$1" = remove ] && [ -x /usr/bin/deb-systemd-helper ]; then
    deb-systemd-helper mask $units >/dev/null || true
fi
if [ "\$1" = purge ]; then
    if [ -x /usr/bin/deb-systemd-helper ]; then
        deb-systemd-helper purge $units >/dev/null || true
        deb-systemd-helper unmask $units >/dev/null || true
    fi
    # Only the system MTA's configuration (the gsendmail user's); a
    # root-owned /etc/gsendmail.toml that predates the package stays.
    if [ -e /etc/gsendmail.toml ] && [ "\$(stat -c %U /etc/gsendmail.toml)" = gsendmail ]; then
        rm -f /etc/gsendmail.toml
    fi
    rm -rf /var/spool/gsendmail /var/lib/gsendmail
fi
exit 0
POSTRM
chmod 0755 "$pkgroot/DEBIAN/postinst" "$pkgroot/DEBIAN/prerm" "$pkgroot/DEBIAN/postrm"

(cd "$pkgroot" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkgroot/DEBIAN/md5sums"
chmod 0644 "$pkgroot/DEBIAN/md5sums"

mkdir -p dist
out=dist/gsendmail_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkgroot" "$out" >/dev/null
echo "$root/$out"

package mailserver

import (
	"fmt"
	"sort"
	"strings"
)

// layout holds the paths of one instance. Everything lives under root, a
// private 0755 directory, so several instances can run at once and nothing
// touches /etc/postfix or /etc/dovecot.
type layout struct {
	root       string
	etc        string // Postfix config_directory: main.cf, master.cf
	spool      string // Postfix queue_directory
	data       string // Postfix data_directory
	chain      string // TLS private key followed by the leaf certificate
	caFile     string
	capture    string // one *.msg file per delivered message
	captureSh  string
	maillog    string
	startOut   string // output of "postfix start"
	dovecotDir string
	dovecotCfg string
	dovecotLog string
	users      string // passwd-file for Dovecot
	oauthCfg   string // dovecot-oauth2.conf.ext
	authSocket string // Dovecot's auth listener, inside the Postfix queue
}

func newLayout(root string) layout {
	d := root + "/dovecot"
	return layout{
		root:       root,
		etc:        root + "/etc",
		spool:      root + "/spool",
		data:       root + "/data",
		chain:      root + "/etc/chain.pem",
		caFile:     root + "/ca.pem",
		capture:    root + "/capture",
		captureSh:  root + "/capture.sh",
		maillog:    root + "/maillog",
		startOut:   root + "/postfix-start.out",
		dovecotDir: d,
		dovecotCfg: d + "/dovecot.conf",
		dovecotLog: d + "/dovecot.log",
		users:      d + "/users",
		oauthCfg:   d + "/dovecot-oauth2.conf.ext",
		authSocket: root + "/spool/private/auth",
	}
}

// ports are the loopback ports of the smtpd services; plain is 0 when the
// plain service is off.
type ports struct {
	submission, smtps, plain int
}

// mainCF returns main.cf. Every setting that differs from a stock Postfix is
// here on purpose; the comments say why. o.ExtraMain overrides entries (or
// removes them when the value is empty and the key is a restriction list).
func mainCF(l layout, o Options) string {
	limit := o.MessageSizeLimit
	if limit == 0 {
		limit = DefaultMessageSizeLimit
	}
	kv := [][2]string{
		{"compatibility_level", "3.6"},
		{"queue_directory", l.spool},
		{"data_directory", l.data},
		{"mail_owner", "postfix"},
		{"myhostname", Hostname},
		{"mydomain", "gsendmail.test"},
		{"myorigin", "$myhostname"},
		// Nothing is local and nothing is relayed by domain: every accepted
		// recipient goes to default_transport (the capture pipe).
		{"mydestination", ""},
		{"relay_domains", ""},
		{"relayhost", ""},
		{"inet_interfaces", "127.0.0.1"},
		{"inet_protocols", "ipv4"},
		{"mynetworks", "127.0.0.0/8"},
		// The log goes to a file through postlogd (master.cf "postlog");
		// postlogd refuses files outside maillog_file_prefixes, whose
		// default is /var only.
		{"maillog_file", l.maillog},
		{"maillog_file_prefixes", l.root},
		{"smtputf8_enable", "yes"},
		{"message_size_limit", fmt.Sprint(limit)},
		// mailbox_size_limit must not be below message_size_limit.
		{"mailbox_size_limit", "0"},
		// Keep the stock aliases and local recipient lookups out: there is
		// no /etc/aliases.db in a private instance.
		{"alias_maps", ""},
		{"alias_database", ""},
		{"local_recipient_maps", ""},
		{"biff", "no"},

		// Do not hide client mistakes: a stock Postfix strips Bcc/Return-Path
		// (message_drop_headers), adds From/Date/Message-ID for "local"
		// clients (local_header_rewrite_clients defaults to
		// permit_inet_interfaces, which covers 127.0.0.1) and qualifies bare
		// names. Tests must see exactly what the client sent.
		{"message_drop_headers", ""},
		{"always_add_missing_headers", "no"},
		{"local_header_rewrite_clients", ""},
		{"remote_header_rewrite_domain", ""},
		{"append_dot_mydomain", "no"},
		{"canonical_maps", ""},
		{"sender_canonical_maps", ""},
		{"recipient_canonical_maps", ""},
		// Like big providers: MAIL FROM/RCPT TO need <angle brackets>.
		{"strict_rfc821_envelopes", "yes"},

		// The point of the exercise (RFC 5321 4.1.4 says a client sends
		// its FQDN or an address literal). Nothing before the two rejects
		// permits loopback, mynetworks or authenticated clients, and with
		// smtpd_delay_reject=yes (default) the 504 comes at RCPT TO, after
		// a successful AUTH, exactly like a real smarthost.
		{"smtpd_helo_required", "yes"},
		{"smtpd_helo_restrictions", "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname"},
		{"smtpd_delay_reject", "yes"},
		{"smtpd_client_restrictions", ""},
		// Bare "root" as envelope address is a client bug; real smarthosts
		// reject it, so do we (504 5.5.2 need fully-qualified address).
		{"smtpd_sender_restrictions", "reject_non_fqdn_sender"},
		// The default relay restrictions start with permit_mynetworks,
		// which would let any loopback client relay without AUTH. With
		// no local or relay domains reject_unauth_destination refuses
		// every domain with the usual "554 5.7.1 Relay access denied";
		// the final reject also covers user@[127.0.0.1], which Postfix
		// would count as local.
		{"smtpd_relay_restrictions", "permit_sasl_authenticated, reject_unauth_destination, reject"},
		{"smtpd_recipient_restrictions", "reject_non_fqdn_recipient, permit_sasl_authenticated, reject_unauth_destination, reject"},
		{"smtpd_banner", "$myhostname ESMTP gsendmail test server"},
		{"disable_vrfy_command", "yes"},
		// Answer errors at once; tests must not wait for tarpits.
		{"smtpd_error_sleep_time", "0"},
		{"in_flow_delay", "0"},

		// SASL through our Dovecot; the socket path is relative to
		// queue_directory (smtpd runs with chroot "n" but still chdirs there).
		{"smtpd_sasl_auth_enable", "yes"},
		{"smtpd_sasl_type", "dovecot"},
		{"smtpd_sasl_path", "private/auth"},
		{"smtpd_sasl_security_options", "noanonymous"},
		{"smtpd_sasl_tls_security_options", "noanonymous"},
		{"smtpd_sasl_authenticated_header", "no"},
		{"broken_sasl_auth_clients", "no"},

		// TLS: services override smtpd_tls_security_level in master.cf.
		{"smtpd_tls_chain_files", l.chain},
		{"smtpd_tls_security_level", "may"},
		{"smtpd_tls_auth_only", "yes"},
		{"smtpd_tls_loglevel", "1"},
		{"smtpd_tls_received_header", "no"},
		{"smtp_tls_security_level", "none"},

		// Delivery: everything to the capture pipe. The explicit nexthop
		// ("capture:capture") puts all recipients of a message into ONE
		// delivery; with plain "capture" the nexthop is each recipient's
		// domain and a message to two domains would be split.
		{"default_transport", "capture:capture"},
		{"relay_transport", "capture:capture"},
		{"local_transport", "capture:capture"},
		{"capture_destination_recipient_limit", "1000"},
		{"delay_warning_time", "0"},
		{"minimal_backoff_time", "1s"},
		{"maximal_backoff_time", "2s"},
		{"queue_run_delay", "1s"},
	}
	idx := make(map[string]int, len(kv))
	for i, e := range kv {
		idx[e[0]] = i
	}
	extra := make([]string, 0, len(o.ExtraMain))
	for k := range o.ExtraMain {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		if i, ok := idx[k]; ok {
			kv[i][1] = o.ExtraMain[k]
		} else {
			kv = append(kv, [2]string{k, o.ExtraMain[k]})
		}
	}
	var b strings.Builder
	b.WriteString("# Private gsendmail test instance; generated by internal/testkit/testenv/mailserver.\n")
	for _, e := range kv {
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	return b.String()
}

// masterCF returns master.cf. Every service runs with chroot "n" (column 5):
// the private queue has no chroot jail set up. The inet services listen on
// explicit 127.0.0.1 ports chosen at start.
func masterCF(l layout, p ports) string {
	var b strings.Builder
	b.WriteString("# service type private unpriv chroot wakeup maxproc command\n")
	// RFC 6409 submission: STARTTLS required before anything else;
	// smtpd_tls_auth_only (main.cf) hides AUTH until then.
	fmt.Fprintf(&b, "127.0.0.1:%d inet n - n - - smtpd\n", p.submission)
	b.WriteString("  -o syslog_name=postfix/submission\n")
	b.WriteString("  -o smtpd_tls_security_level=encrypt\n")
	// RFC 8314 3.3 implicit TLS ("smtps", port 465 style).
	fmt.Fprintf(&b, "127.0.0.1:%d inet n - n - - smtpd\n", p.smtps)
	b.WriteString("  -o syslog_name=postfix/smtps\n")
	b.WriteString("  -o smtpd_tls_wrappermode=yes\n")
	b.WriteString("  -o smtpd_tls_security_level=encrypt\n")
	if p.plain != 0 {
		// No TLS at all; AUTH allowed in clear (loopback tls="none" tests).
		fmt.Fprintf(&b, "127.0.0.1:%d inet n - n - - smtpd\n", p.plain)
		b.WriteString("  -o syslog_name=postfix/plain\n")
		b.WriteString("  -o smtpd_tls_security_level=none\n")
		b.WriteString("  -o smtpd_tls_auth_only=no\n")
	}
	b.WriteString(`pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`)
	// pipe(8) with no flags: no From_ line (F), Return-Path (R),
	// Delivered-To (D) or X-Original-To (O), no dot-stuffing, no case
	// folding. ${recipient} expands to one argument per recipient.
	// null_sender= turns the null sender into an empty argument instead
	// of "MAILER-DAEMON".
	b.WriteString("capture   unix  -       n       n       -       -       pipe\n")
	// /bin/sh explicitly: the temporary directory may be mounted noexec.
	fmt.Fprintf(&b, "  flags= user=nobody null_sender= argv=/bin/sh %s %s ${sender} ${recipient}\n", l.captureSh, l.capture)
	return b.String()
}

// captureScript is run by pipe(8) as "nobody": capture.sh DIR SENDER RCPT...
// with the message on stdin. It writes a temporary file and renames it into
// place, so readers only ever see complete *.msg files. Exit 75 makes
// Postfix defer (and retry) instead of bouncing.
const captureScript = `#!/bin/sh
umask 022
dir=$1
shift
tmp=$(mktemp "$dir/.incoming.XXXXXXXX") || exit 75
{
	printf 'S %s\n' "$1"
	shift
	for r in "$@"; do
		printf 'R %s\n' "$r"
	done
	printf '\n'
	cat
} >"$tmp" || { rm -f "$tmp"; exit 75; }
mv "$tmp" "$dir/$(date +%s%N)-$$.msg" || { rm -f "$tmp"; exit 75; }
`

// dovecotConf returns an auth-only Dovecot configuration.
func dovecotConf(l layout, o Options, instance string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Private gsendmail test instance: Dovecot as SASL server for Postfix only.
protocols =
instance_name = %s
base_dir = %s/run
state_dir = %s/state
log_path = %s
ssl = no
# Postfix terminates TLS; Dovecot only sees the local socket.
disable_plaintext_auth = no
# The default 2 s delay after a failure would slow every negative test.
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes
default_internal_user = dovecot
default_login_user = dovenull
`, instance, l.dovecotDir, l.dovecotDir, l.dovecotLog)
	mechs := "plain login"
	if o.oauth() {
		mechs += " xoauth2 oauthbearer"
	}
	fmt.Fprintf(&b, "auth_mechanisms = %s\n", mechs)
	// passwd-file only for password mechanisms; otherwise Dovecot would
	// also compare an XOAUTH2 token against the stored password.
	fmt.Fprintf(&b, `passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %s
}
`, l.users)
	if o.oauth() {
		fmt.Fprintf(&b, `passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s
}
`, l.oauthCfg)
	}
	fmt.Fprintf(&b, `userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener %s {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# All clients come from 127.0.0.1: without this, anvil's auth penalty delays
# every authentication after a failed one by 2, 4, 8... up to 15 s.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, l.authSocket)
	return b.String()
}

// oauthConf returns dovecot-oauth2.conf.ext for the oauth2 passdb.
//
// What Dovecot 2.3.19 sends and accepts (pinned by oauth_test.go):
//
//   - tokeninfo (Options.OAuthTokenInfoURL set): GET <url><token>, the
//     token URL-escaped and appended, so the URL should end in
//     "?access_token=" or similar. It also sends "Authorization: Bearer
//     <token>" and User-Agent dovecot-oauth2-passdb/2.3.19.1.
//   - introspection (only Options.OAuthIntrospectionURL set): POST <url>,
//     Content-Type application/x-www-form-urlencoded, body
//     "client_id=&client_secret=&token=<token>" (RFC 7662 2.1).
//   - A valid token: HTTP 200, Content-Type application/json, an object
//     whose username attribute (Options.OAuthUsernameAttribute, default
//     "email") equals the SASL user name (XOAUTH2 user=, OAUTHBEARER a=),
//     compared lower-cased. Introspection also needs "active": true.
//     Other fields (expires_in, scope) are ignored.
//   - An invalid token: tokeninfo answers 401 (body ignored) or a 200
//     whose user differs; introspection answers 200 {"active": false}.
//     Dovecot then sends 334 + base64 JSON, {"status":"401","schemes":
//     "bearer","scope":"mail"} for XOAUTH2 and {"status":"invalid_token"}
//     for OAUTHBEARER, and after the client's empty line (XOAUTH2) or
//     base64 of ^A (OAUTHBEARER), 535 5.7.8.
//   - Anything else (5xx, a non-JSON body, introspection 401) is an
//     internal error in Dovecot's log, and the client gets 535 at once
//     without the 334 challenge (not a 454 temporary failure).
func oauthConf(o Options) string {
	attr := o.OAuthUsernameAttribute
	if attr == "" {
		attr = "email"
	}
	var b strings.Builder
	if o.OAuthTokenInfoURL != "" {
		fmt.Fprintf(&b, "tokeninfo_url = %s\n", o.OAuthTokenInfoURL)
	}
	if o.OAuthIntrospectionURL != "" {
		fmt.Fprintf(&b, "introspection_url = %s\n", o.OAuthIntrospectionURL)
		b.WriteString("introspection_mode = post\n")
		if o.OAuthTokenInfoURL == "" {
			b.WriteString("active_attribute = active\nactive_value = true\n")
		}
	}
	fmt.Fprintf(&b, "username_attribute = %s\n", attr)
	b.WriteString("timeout_msecs = 5000\n")
	b.WriteString("debug = yes\n")
	return b.String()
}

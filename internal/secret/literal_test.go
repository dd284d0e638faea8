package secret

import "testing"

func TestCommandEmbedsLiteralFindsEchoAndPrintfOfAPassword(t *testing.T) {
	for _, cmd := range []string{
		`echo secret`,
		`echo -n secret`,
		`printf %s secret`,
		`printf '%s\n' 'hunter 2'`,
		`/bin/echo "secret"`,
		`echo c2VjcmV0 | base64 -d`,
		`true; echo secret`,
		`LC_ALL=C printf %s s3cr3t`,
	} {
		if !CommandEmbedsLiteral(cmd) {
			t.Errorf("%q: not seen as a literal password", cmd)
		}
	}
}

func TestCommandEmbedsLiteralAcceptsCommandsThatFetchTheSecret(t *testing.T) {
	for _, cmd := range []string{
		`pass show mail/work`,
		`cat /etc/gsendmail/password`,
		`echo "$MAIL_PASSWORD"`,
		`printf %s "$(secret-tool lookup service mail)"`,
		"echo `cat /root/pw`",
		`gpg -dq ~/.mailpass.gpg | head -1`,
		`printf %s`,
		`echo`,
		`op read "op://vault/mail/password"`,
	} {
		if CommandEmbedsLiteral(cmd) {
			t.Errorf("%q: seen as a literal password", cmd)
		}
	}
}

func FuzzCommandEmbedsLiteral(f *testing.F) {
	for _, s := range []string{`echo secret`, `pass show x`, `printf '%s' "a|b"`, `echo "unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		CommandEmbedsLiteral(cmd) // must not panic
		if len(splitStages(cmd)) == 0 {
			t.Fatal("no stages")
		}
	})
}

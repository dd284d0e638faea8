package setup

// This file is "check the server before writing": one connection with the
// answers given (TLS, certificate, EHLO, AUTH) before the wizard or an
// importer writes anything, so a private CA or a wrong password is fixed
// on the spot instead of in the final doctor run.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// optionalValue is a flag that may be given bare (--from-msmtprc) or with
// a value (--from-msmtprc=FILE); a bare one may take its value from the
// next positional argument.
type optionalValue struct {
	set   bool
	value string
}

func (o *optionalValue) String() string   { return o.value }
func (o *optionalValue) IsBoolFlag() bool { return true }
func (o *optionalValue) Set(v string) error {
	o.set = true
	if v != "true" {
		o.value = v
	}
	return nil
}

// joinOptional rewrites "--from-msmtprc FILE" as "--from-msmtprc=FILE"
// (likewise --from-thunderbird DIR), so the flags after it are still
// parsed: a bare optional flag takes the next argument when that is not
// an option.
func joinOptional(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if (name == "from-msmtprc" || name == "from-thunderbird") && a != name && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// resolvePath makes a path the user typed absolute. A relative one is
// resolved against the current directory and, when it was typed at a
// prompt, shown for confirmation rather than silently taken.
func (w *wizard) resolvePath(p string, fromFlag bool, what string) (string, error) {
	for {
		p = expandHome(p, w.home())
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", usageErr("setup: %s %q: %v", what, p, err)
		}
		if filepath.IsAbs(p) || fromFlag || w.f.yes {
			return abs, nil
		}
		ok, err := w.confirm(fmt.Sprintf("%q is relative to the current directory, so the %s is %s. Use that?", p, what, abs), true)
		if err != nil {
			return "", err
		}
		if ok {
			return abs, nil
		}
		if p, err = w.ask("", "", "The "+what+" (absolute path)", ""); err != nil {
			return "", err
		}
	}
}

func (w *wizard) getenv(k string) string {
	if w.o.Getenv != nil {
		return w.o.Getenv(k)
	}
	return getenv(k)
}

func (w *wizard) home() string { return w.getenv("HOME") }

// setExtra sets key among a's extra settings, replacing an earlier value.
func setExtra(a *Account, s Setting) {
	for i := range a.Extra {
		if a.Extra[i].Key == s.Key {
			a.Extra[i] = s
			return
		}
	}
	a.Extra = append(a.Extra, s)
}

// probeAccount turns the answers into the account internal/config would
// load, with the password given inline so the check can log in.
func probeAccount(a Account, password string) (*config.Account, error) {
	p := a
	p.Default = false
	if p.Auth == AuthOAuth2 {
		// No token yet: check TLS and the certificate; AUTH is checked
		// after the login (doctor).
		p.Auth, p.OAuthClientSecret = AuthNone, ""
	}
	if p.Auth == AuthPassword && p.PasswordStore != StoreCommand && password == "" {
		// No password yet: check TLS and the certificate only.
		p.Auth = AuthNone
	}
	if p.Auth == AuthPassword && p.PasswordStore != StoreCommand {
		p.PasswordStore, p.PasswordFile = StoreCommand, ""
		p.PasswordCommand = "true" // replaced by the inline password below
	}
	cf, err := parseProbe(RenderFile(p))
	if err != nil {
		return nil, err
	}
	ca := cf.Accounts[p.Name]
	if ca == nil {
		return nil, fmt.Errorf("account %q missing after rendering", p.Name)
	}
	if a.Auth == AuthPassword && a.PasswordStore != StoreCommand {
		ca.PasswordCommand, ca.Password = "", password
	}
	return ca, nil
}

// certFingerprint is the SHA-256 of the certificate's DER, colon hex.
func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// checkServer connects once with a's settings before anything is
// written. On an untrusted certificate it offers a CA file or pinning the
// fingerprint it shows; on a refused password it asks again. Other
// failures stop the wizard (nothing is written) with the one-line error.
func (w *wizard) checkServer(ctx context.Context, a *Account, password *string) error {
	if w.o.Probe == nil {
		return nil
	}
	for tries := 0; ; tries++ {
		ca, err := probeAccount(*a, *password)
		if err != nil {
			return sysexits.New(sysexits.Software, fmt.Errorf("setup: the answers for account %q do not make a valid account (%v): please report this bug", a.Name, err))
		}
		what := "TLS and certificate"
		if a.Auth == AuthPassword && (*password != "" || a.PasswordStore == StoreCommand) {
			what += ", login as " + a.User
		}
		fmt.Fprintf(w.out, "Checking %s:%d before writing (%s) ...\n", a.Host, a.Port, what)
		err = w.o.Probe(ctx, ca)
		if err == nil {
			fmt.Fprintf(w.out, "Server check passed.\n")
			return nil
		}
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) && len(cv.UnverifiedCertificates) > 0 && tries < 5 {
			leaf := cv.UnverifiedCertificates[0]
			fmt.Fprintf(w.out, "The server's certificate is not trusted: %v\n", cv.Err)
			fmt.Fprintf(w.out, "  subject:  %s\n  issuer:   %s\n  valid:    %s to %s\n  SHA-256:  %s\n",
				leaf.Subject, leaf.Issuer, leaf.NotBefore.Format("2006-01-02"), leaf.NotAfter.Format("2006-01-02"), certFingerprint(leaf))
			if w.f.yes {
				return sysexits.New(sysexits.Protocol, fmt.Errorf("setup: %s:%d presents a certificate this system does not trust: give --tls-trust-file CA.pem, or check the SHA-256 fingerprint above with the server's administrator and pin it (tls_fingerprint)", a.Host, a.Port))
			}
			choice, err := w.choose("", "", "Trust it by: a CA certificate file (trust-file), pinning the fingerprint above (pin), or stop (abort)", "abort", []string{"trust-file", "pin", "abort"})
			if err != nil {
				return err
			}
			switch choice {
			case "trust-file":
				p, err := w.ask("", "tls-trust-file", "CA certificate file (PEM)", "")
				if err != nil {
					return err
				}
				if a.TLSTrustFile, err = w.resolvePath(p, false, "CA certificate file"); err != nil {
					return err
				}
				continue
			case "pin":
				ok, err := w.confirm("Pin only a fingerprint you have checked with the server's administrator (out of band). Pin "+certFingerprint(leaf)+"?", false)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				sum := sha256.Sum256(leaf.Raw)
				setExtra(a, Setting{"Pinned server certificate (SHA-256), checked when setup ran.", "tls_fingerprint", hex.EncodeToString(sum[:])})
				continue
			}
			return sysexits.New(sysexits.Protocol, fmt.Errorf("setup: nothing written: %s:%d's certificate is not trusted; rerun with --tls-trust-file CA.pem", a.Host, a.Port))
		}
		if sysexits.Code(err) == sysexits.NoPerm && a.Auth == AuthPassword && a.PasswordStore != StoreCommand && !w.f.yes && tries < 3 {
			fmt.Fprintf(w.out, "The server refused the login: %v\n", oneLine(err))
			p, err := w.secret(fmt.Sprintf("Password for %s at %s, again (input hidden)", a.User, a.Host), "password", false)
			if err != nil {
				return err
			}
			*password = p
			continue
		}
		if sysexits.Code(err) == sysexits.TempFail && !w.f.yes {
			// Offline, or the server is down: the answers may still be right.
			fmt.Fprintf(w.out, "The server could not be reached: %v\n", oneLine(err))
			ok, cerr := w.confirm("Write the configuration anyway, unchecked?", false)
			if cerr != nil {
				return cerr
			}
			if ok {
				fmt.Fprintf(w.out, "Not checked: run gsendmail doctor %s once the server is reachable.\n", a.Name)
				return nil
			}
		}
		return fmt.Errorf("setup: nothing written: the server check failed: %w", err)
	}
}

// oneLine is err's text as one safe line (redact.OneLine).
func oneLine(err error) string { return redact.OneLine(err.Error()) }

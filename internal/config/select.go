package config

import (
	"fmt"
	"strings"
)

// Select chooses the account for a message, in this order:
//  1. name (-a NAME), which must exist;
//  2. the first account, in file order, whose from pattern matches the
//     envelope sender (-f), case-insensitively;
//  3. the first whose from pattern matches the From: header address;
//  4. default_account;
//  5. the only account, if there is exactly one.
//
// reason is a short line for diagnostics, such as "chosen with -a work".
func (f *File) Select(name, envelopeFrom, headerFrom string) (*Account, string, error) {
	if name != "" {
		if a := f.Accounts[name]; a != nil {
			return a, "chosen with -a " + name, nil
		}
		return nil, "", configErr("no account %q in %s: %s", name, f.Path, f.accountList())
	}
	envelopeFrom, headerFrom = bareAddress(envelopeFrom), bareAddress(headerFrom)
	for _, c := range []struct{ addr, what string }{
		{envelopeFrom, "envelope sender"},
		{headerFrom, "From: header address"},
	} {
		if c.addr == "" {
			continue
		}
		for _, n := range f.Order {
			a := f.Accounts[n]
			if a.From != "" && matchFrom(a.From, c.addr) {
				return a, fmt.Sprintf("%s %s matches from pattern %s of account %s", c.what, c.addr, a.From, n), nil
			}
		}
	}
	if f.DefaultAccount != "" {
		if a := f.Accounts[f.DefaultAccount]; a != nil {
			return a, "default_account", nil
		}
	}
	if len(f.Order) == 1 {
		return f.Accounts[f.Order[0]], "the only account", nil
	}
	if len(f.Order) == 0 {
		return nil, "", configErr("%s defines no account: add an [account.NAME] section (see gsendmail.toml(5))", f.Path)
	}
	sender := envelopeFrom
	if sender == "" {
		sender = headerFrom
	}
	if sender == "" {
		return nil, "", configErr("no sender to match against from patterns and no default_account is set: set default_account in %s or use -a", f.Path)
	}
	return nil, "", configErr("no account matches sender %s and no default_account is set: set default_account or use -a", sender)
}

// bareAddress strips spaces and one pair of angle brackets.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// matchFrom matches an address against a from pattern: * matches any run
// of characters, ? one character, everything else itself, ignoring case.
func matchFrom(pattern, addr string) bool {
	return glob([]rune(strings.ToLower(pattern)), []rune(strings.ToLower(addr)))
}

// glob is the classic linear-time wildcard match with one backtrack point.
func glob(p, s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

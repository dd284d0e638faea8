package message

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// ReplaceField sets the header field name to "name: value": the first
// field of that name is rewritten where it stands (keeping its line
// ending), any further ones are removed, and when there is none the field
// is added as Add does. The value rules are Add's (exit code 65 for a
// line break or NUL). The system MTA uses it to set a local user's From:.
func (m *Message) ReplaceField(name, value string) error {
	if n, ok := fieldName([]byte(name + ":")); !ok || n != name {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("cannot set header field %q: not a valid field name", name))
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("cannot set header field %s: its value contains a line break or NUL byte", name))
	}
	done := false
	kept := m.fields[:0]
	for _, f := range m.fields {
		if !strings.EqualFold(f.name, name) {
			kept = append(kept, f)
			continue
		}
		if done {
			continue
		}
		nl := ""
		switch {
		case bytes.HasSuffix(f.raw, []byte("\r\n")):
			nl = "\r\n"
		case bytes.HasSuffix(f.raw, []byte("\n")):
			nl = "\n"
		}
		kept = append(kept, field{name: name, raw: []byte(name + ": " + value + nl)})
		done = true
	}
	m.fields = kept
	if done {
		return nil
	}
	return m.Add(name, value)
}

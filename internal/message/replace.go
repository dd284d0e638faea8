package message

import "strings"

// Replace removes every field named name (case-insensitive) and appends
// "name: value" (see Add for the checks). The system MTA mode uses it to
// impose the From: header a peer policy chose.
func (m *Message) Replace(name, value string) error {
	kept := m.fields[:0]
	for _, f := range m.fields {
		if !strings.EqualFold(f.name, name) {
			kept = append(kept, f)
		}
	}
	m.fields = kept
	return m.Add(name, value)
}

package queue

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func validEnvelope(t testing.TB) []byte {
	t.Helper()
	b, err := encodeEnvelope(Entry{
		ID: "18ea0d5da831100b-9a13bd544ae5", Account: "work", From: "a@example.org",
		To: []string{"b@example.org"}, Size: 12, WireSize: 14, Created: t0, NextAttempt: t0.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEnvelopeAcceptsWhatEncodeWrites(t *testing.T) {
	e, err := decodeEnvelope(validEnvelope(t))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "18ea0d5da831100b-9a13bd544ae5" || e.From != "a@example.org" || e.Size != 12 || e.WireSize != 14 || !e.Created.Equal(t0) || !e.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("decoded %+v", e)
	}
}

func TestDecodeEnvelopeRejectsCorruptInput(t *testing.T) {
	good := string(validEnvelope(t))
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"truncated", good[:len(good)/2]},
		{"not an object", `["a"]`},
		{"trailing data", good + `{}`},
		{"unknown field", strings.Replace(good, `"v":1`, `"v":1,"extra":true`, 1)},
		{"no version", strings.Replace(good, `"v":1,`, ``, 1)},
		{"version zero", strings.Replace(good, `"v":1`, `"v":0`, 1)},
		{"bad id", strings.Replace(good, `18ea0d5da831100b`, `../../../etc/x`, 1)},
		{"no recipients", strings.Replace(good, `["b@example.org"]`, `[]`, 1)},
		{"null recipients", strings.Replace(good, `["b@example.org"]`, `null`, 1)},
		{"CRLF in recipient", strings.Replace(good, `b@example.org`, `b@example.org\r\nDATA`, 1)},
		{"NUL in sender", strings.Replace(good, `a@example.org`, `a\u0000@example.org`, 1)},
		{"negative size", strings.Replace(good, `"size":12`, `"size":-1`, 1)},
		{"no creation time", strings.Replace(good, `"created":"2025-03-14T09:26:53Z",`, ``, 1)},
		{"bad time", strings.Replace(good, `2025-03-14T09:26:53Z`, `yesterday`, 1)},
		{"wrong type", strings.Replace(good, `"size":12`, `"size":"12"`, 1)},
		{"multi-line error", strings.Replace(good, `"size":12`, `"size":12,"last_error":"a\nb"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("test case did not change the envelope")
			}
			if e, err := decodeEnvelope([]byte(tt.in)); err == nil {
				t.Fatalf("decoded corrupt envelope %q as %+v", tt.in, e)
			}
		})
	}
}

func TestOneLineFlattensAndBoundsErrorText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nb", "a b"},
		{"  lead\t\ttabs  ", "lead tabs"},
		{"esc\x1b[31mred", "esc [31mred"},
		{"bad \xff utf8", "bad utf8"}, // invalid UTF-8 is a space, folded (redact.OneLine)
		{"line\u2028sep", "line sep"},
		{strings.Repeat("x", 5000), strings.Repeat("x", 1000)},
		{strings.Repeat("é", 600), strings.Repeat("é", 500)},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeEnvelope: a stored envelope is untrusted (a crash, a full disk,
// a user's editor). Decoding must never panic, and anything it accepts must
// re-encode to an envelope that decodes to the same thing.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(validEnvelope(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		if validate(e) != nil {
			t.Fatalf("decode accepted an invalid entry %+v", e)
		}
		b1, err := encodeEnvelope(e)
		if err != nil {
			t.Fatalf("cannot re-encode decoded entry %+v: %v", e, err)
		}
		e2, err := decodeEnvelope(b1)
		if err != nil {
			t.Fatalf("cannot decode re-encoded %q: %v", b1, err)
		}
		b2, err := encodeEnvelope(e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("round trip not stable:\n%q\n%q (%v)", b1, b2, err)
		}
	})
}

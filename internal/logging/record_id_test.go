package logging

import (
	"strings"
	"testing"
)

func TestLineStartsWithTransactionIDAndClientWhenSet(t *testing.T) {
	l := Record{ID: "20260101T000000-abc", Client: "127.0.0.1:5555", Account: "w", From: "a@b.example", Recipients: []string{"c@d.example"}}.Line()
	if !strings.HasPrefix(l, "id=20260101T000000-abc client=127.0.0.1:5555 account=w ") {
		t.Errorf("line %q", l)
	}
	if l := (Record{Account: "w"}).Line(); strings.Contains(l, "id=") || strings.Contains(l, "client=") {
		t.Errorf("sendmail line shows empty serve fields: %q", l)
	}
}

package queue

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestEnvelopeKeepsTheSubmitterAndReadsOldEnvelopesWithoutOne(t *testing.T) {
	e := Entry{ID: "18ea0d5da831100b-9a13bd544ae5", From: "a@example.org", To: []string{"b@example.org"},
		Size: 12, Created: t0, Submitter: &Submitter{UID: 1000, Name: "alice"}}
	b, err := encodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"v":1,`)) || !bytes.Contains(b, []byte(`"submitter":{"uid":1000,"name":"alice"}`)) {
		t.Fatalf("envelope %s: want version 1 with the submitter", b)
	}
	got, err := decodeEnvelope(b)
	if err != nil || got.Submitter == nil || *got.Submitter != *e.Submitter {
		t.Fatalf("decoded %+v, %v", got.Submitter, err)
	}
	// What gsendmail wrote before it recorded submitters.
	old, err := decodeEnvelope(validEnvelope(t))
	if err != nil || old.Submitter != nil {
		t.Fatalf("an envelope without a submitter: %+v, %v", old.Submitter, err)
	}
	if bytes.Contains(validEnvelope(t), []byte("submitter")) {
		t.Error("an entry without a submitter writes the field")
	}
	for _, bad := range []string{`{"uid":-1}`, `{"uid":1,"name":"a\u001b[2Jb"}`, `{"uid":1,"extra":2}`, `{"uid":"1000"}`} {
		in := strings.Replace(string(b), `{"uid":1000,"name":"alice"}`, bad, 1)
		if e, err := decodeEnvelope([]byte(in)); err == nil {
			t.Errorf("submitter %s decoded as %+v", bad, e.Submitter)
		}
	}
}

func TestVisibleToGivesUsersTheirOwnEntriesAndRootAll(t *testing.T) {
	alice := Entry{ID: "a", Submitter: &Submitter{UID: 1000, Name: "alice"}}
	bob := Entry{ID: "b", Submitter: &Submitter{UID: 1001, Name: "bob"}}
	rootE := Entry{ID: "r", Submitter: &Submitter{UID: 0, Name: "root"}}
	unknown := Entry{ID: "u"} // TCP client, or queued before submitters were recorded
	all := []Entry{alice, bob, rootE, unknown}
	for _, tc := range []struct {
		uid  int
		want string
	}{
		{1000, "a"},
		{1001, "b"},
		{0, "abru"},
		{4242, ""},
	} {
		var ids string
		for _, e := range VisibleTo(all, tc.uid) {
			ids += e.ID
		}
		if ids != tc.want {
			t.Errorf("uid %d sees %q, want %q", tc.uid, ids, tc.want)
		}
	}
}

func TestFormatListNamesTheSubmittingUser(t *testing.T) {
	var b bytes.Buffer
	FormatList(&b, []Entry{
		{ID: "18ea0d5da831100b-9a13bd544ae5", Account: "sys", To: []string{"x@example.org"}, Created: t0, NextAttempt: t0,
			Submitter: &Submitter{UID: 1000, Name: "alice"}},
		{ID: "18ea0d5da831100c-9a13bd544ae5", To: []string{"x@example.org"}, Created: t0, NextAttempt: t0,
			Submitter: &Submitter{UID: 1002}},
	}, t0.Add(time.Second))
	for _, want := range []string{"(account sys, user alice, attempts 0, due now)", "(user uid 1002, attempts 0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

package sysexits

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestCodeUsesOutermostCoder(t *testing.T) {
	inner := New(NoPerm, errors.New("auth refused"))
	outer := New(TempFail, fmt.Errorf("wrapped: %w", inner))
	if got := Code(outer); got != TempFail {
		t.Fatalf("Code = %d, want %d", got, TempFail)
	}
	if got := Code(fmt.Errorf("ctx: %w", inner)); got != NoPerm {
		t.Fatalf("Code through fmt wrap = %d, want %d", got, NoPerm)
	}
}

func TestCodeTreatsNetworkErrorsAsTemporary(t *testing.T) {
	_, err := net.Dial("tcp", "127.0.0.1:1")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	if got := Code(err); got != TempFail {
		t.Fatalf("dial error: Code = %d, want %d", got, TempFail)
	}
	if got := Code(fmt.Errorf("x: %w", context.DeadlineExceeded)); got != TempFail {
		t.Fatalf("deadline: Code = %d, want %d", got, TempFail)
	}
	if !Temporary(context.DeadlineExceeded) || Temporary(New(Unavailable, errors.New("550"))) {
		t.Fatal("Temporary misclassifies")
	}
}

func TestCodeOfPlainErrorIsSoftwareAndNilIsOK(t *testing.T) {
	if Code(errors.New("boom")) != Software || Code(nil) != OK || New(Usage, nil) != nil {
		t.Fatal("default mapping wrong")
	}
}

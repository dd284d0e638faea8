package lazyre

import (
	"sync"
	"testing"
)

var digits = &Regexp{Expr: `^[0-9]+$`}

func TestGetCompilesOnceAndMatches(t *testing.T) {
	if digits.re != nil {
		t.Fatal("compiled before first use")
	}
	var wg sync.WaitGroup
	got := make([]bool, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = digits.Get().MatchString("123") }()
	}
	wg.Wait()
	for i, ok := range got {
		if !ok {
			t.Fatalf("goroutine %d: no match", i)
		}
	}
	if first := digits.Get(); first != digits.Get() || first.MatchString("12a") {
		t.Fatal("Get compiled twice or matched a non-digit")
	}
}

func TestAnInvalidExpressionPanicsOnFirstUse(t *testing.T) {
	bad := &Regexp{Expr: `(`}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an invalid expression")
		}
	}()
	bad.Get()
}

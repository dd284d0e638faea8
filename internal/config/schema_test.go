package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// panicOf runs f and returns what it panicked with, or "".
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	f()
	return ""
}

type resolvedPair struct {
	Name  string
	Count int
	Wait  time.Duration
}

type resolvedList struct{ Tags []string }

func TestSchemaMistakesAreFoundWhenThePackageLoads(t *testing.T) {
	for _, c := range []struct {
		name, want string
		build      func()
	}{
		{"a key without a resolved field", "has no field Extra", func() {
			type raw struct {
				Name  checked[nonEmptyCheck] `toml:"name"`
				Extra tBool                  `toml:"extra"`
			}
			newSchema[raw, resolvedPair]("Count", "Wait")
		}},
		{"a resolved field without a key", "resolvedPair.Count has no key", func() {
			type raw struct {
				Name checked[nonEmptyCheck] `toml:"name"`
			}
			newSchema[raw, resolvedPair]("Wait")
		}},
		{"a key of the wrong type", "does not fit resolvedPair.Name", func() {
			type raw struct {
				Name tBool `toml:"name"`
			}
			newSchema[raw, resolvedPair]("Count", "Wait")
		}},
		{"a number key into a string field", "does not fit resolvedPair.Name", func() {
			type raw struct {
				Name tPort `toml:"name"`
			}
			newSchema[raw, resolvedPair]("Count", "Wait")
		}},
		{"a key without a toml name", "has no toml tag", func() {
			type raw struct {
				Name checked[nonEmptyCheck]
			}
			newSchema[raw, resolvedPair]("Count", "Wait")
		}},
		{"a default its own check refuses", "default '-5s' is refused", func() {
			type raw struct {
				Wait tDuration `toml:"wait" default:"'-5s'"`
			}
			newSchema[raw, resolvedPair]("Name", "Count")
		}},
		{"a default that is not TOML", "is not a TOML value", func() {
			type raw struct {
				Wait tDuration `toml:"wait" default:"5s"`
			}
			newSchema[raw, resolvedPair]("Name", "Count")
		}},
		{"a list default its own check refuses", "default ['a b'] is refused", func() {
			type raw struct {
				Tags tStrings `toml:"tags" default:"['a b']"`
			}
			newSchema[raw, resolvedList]()
		}},
		{"a list default holding a number", "is not a TOML value", func() {
			type raw struct {
				Tags tStrings `toml:"tags" default:"['a', 1]"`
			}
			newSchema[raw, resolvedList]()
		}},
		{"asking for a default a key does not have", "has no default for tags", func() {
			type raw struct {
				Tags tStrings `toml:"tags"`
			}
			newSchema[raw, resolvedList]().defaultOf("tags")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := panicOf(c.build)
			if !strings.Contains(got, c.want) {
				t.Errorf("newSchema panicked with %q, want it to say %q", got, c.want)
			}
		})
	}
}

func TestSchemaFillsSetValuesThenDefaultsThenZero(t *testing.T) {
	type raw struct {
		Name  checked[nonEmptyCheck] `toml:"name" default:"'anon'"`
		Count tCount                 `toml:"count"`
		Wait  tDuration              `toml:"wait" default:"'5s'"`
	}
	s := newSchema[raw, resolvedPair]()
	var r raw
	if err := r.Wait.UnmarshalTOML("2m"); err != nil {
		t.Fatal(err)
	}
	var got resolvedPair
	s.fill(&got, &r)
	if want := (resolvedPair{Name: "anon", Count: 0, Wait: 2 * time.Minute}); got != want {
		t.Errorf("fill = %+v, want %+v", got, want)
	}
	if got, want := strings.Join(s.keys(), ","), "name,count,wait"; got != want {
		t.Errorf("keys = %s, want %s", got, want)
	}
}

func TestFilledListsAreNotSharedBetweenAccounts(t *testing.T) {
	f := mustLoad(t, "[defaults]\nhost = \"h\"\noauth_scopes = [\"a\", \"b\"]\n[account.x]\n[account.y]\n")
	f.Accounts["x"].OAuthScopes[0] = "changed"
	if got := f.Accounts["y"].OAuthScopes[0]; got != "a" {
		t.Errorf("account y's scopes changed with x's: %q", got)
	}
}

func TestDefaultTagsDecodeAsTheTOMLDecoderWouldHandThem(t *testing.T) {
	for _, c := range []struct {
		tag  string
		want any
	}{
		{"'60s'", "60s"},
		{"''", ""},
		{"true", true},
		{"false", false},
		{"587", int64(587)},
		{"-1", int64(-1)},
		{"['root']", []any{"root"}},
		{"['a', 'b']", []any{"a", "b"}},
		{"[]", []any{}},
	} {
		got, err := defaultLiteral(c.tag)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("defaultLiteral(%s) = %#v, %v; want %#v", c.tag, got, err, c.want)
		}
	}
	for _, tag := range []string{"60s", "\"60s\"", "'it's'", "'a\nb'", "[1]", "['a',]", "[['a']]", "['a,b']", "['a'", "1.5", ""} {
		if got, err := defaultLiteral(tag); err == nil {
			t.Errorf("defaultLiteral(%s) = %#v, want an error", tag, got)
		}
	}
}

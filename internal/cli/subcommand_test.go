package cli

import "testing"

func TestSharedOptionsMayPrecedeTheSubcommandVerb(t *testing.T) {
	cases := []struct {
		args          []string
		verb, cfg, ac string
		sub           int
	}{
		{[]string{"auth", "import", "work"}, "auth", "", "", 2},
		{[]string{"-C", "cfg.toml", "auth", "import", "work"}, "auth", "cfg.toml", "", 2},
		{[]string{"-Ccfg.toml", "-a", "work", "doctor", "--json"}, "doctor", "cfg.toml", "work", 1},
		{[]string{"--account=work", "-v", "queue", "list"}, "queue", "", "work", 1},
	}
	for _, c := range cases {
		inv, err := Parse("gsendmail", c.args)
		if err != nil || inv.Mode != Subcommand || inv.Subcommand != c.verb || inv.ConfigFile != c.cfg || inv.Account != c.ac || len(inv.SubArgs) != c.sub {
			t.Errorf("%q: got %+v, %v", c.args, inv, err)
		}
	}
	// A recipient that happens to follow -C is still a send, and so is a
	// verb-looking word in the sendmail personality.
	for _, tc := range []struct {
		argv0 string
		args  []string
	}{
		{"gsendmail", []string{"-C", "cfg.toml", "root@example.org"}},
		{"sendmail", []string{"-C", "cfg.toml", "auth"}},
	} {
		inv, err := Parse(tc.argv0, tc.args)
		if err != nil || inv.Mode != Send {
			t.Errorf("%s %q: want send mode, got %+v, %v", tc.argv0, tc.args, inv, err)
		}
	}
}

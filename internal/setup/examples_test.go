package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
)

// The example configurations in contrib/providers are installed as
// documentation; each must load and agree with the preset table.
func TestProviderExamplesLoadAndAgreeWithPresets(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "contrib", "providers", "*.toml"))
	if len(files) < 8 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "config.toml")
			os.WriteFile(p, data, 0o600)
			cf, err := config.Load(p, false)
			if err != nil {
				t.Fatal(err)
			}
			preset, ok := PresetByName(name)
			if !ok {
				return
			}
			a := cf.Accounts[cf.DefaultAccount]
			if a.Host != preset.Host || a.Port != preset.Port || a.TLS != preset.TLS {
				t.Errorf("example %s:%d %s, preset %s:%d %s", a.Host, a.Port, a.TLS, preset.Host, preset.Port, preset.TLS)
			}
			if a.UsesOAuth() != (preset.Auth[0] == AuthOAuth2) || a.OAuthProvider != preset.OAuthProvider && a.UsesOAuth() {
				t.Errorf("example auth %s provider %q, preset %v %q", a.AuthMethod(), a.OAuthProvider, preset.Auth, preset.OAuthProvider)
			}
		})
	}
}

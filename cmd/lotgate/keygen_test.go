package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lotgate/lotgate/gateway/keys"
)

// keys keygen --seed-file never overwrites an existing file: a second run
// silently replaced the only copy of the operator's private key (and kept
// the old file's mode, 0644, instead of 0600).
func TestKeygenKeepsExistingSeed(t *testing.T) {
	const old = "the operator's only seed\n"
	dir := t.TempDir()
	seed := filepath.Join(dir, "op.seed")
	if err := os.WriteFile(seed, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink, to an existing file or to none, is not followed.
	target := filepath.Join(dir, "elsewhere")
	link, dangling := filepath.Join(dir, "link.seed"), filepath.Join(dir, "dangling.seed")
	if err := os.WriteFile(target, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nothing"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{seed, link, dangling} {
		out, stderr, code := lotgate(t, "", "keys", "keygen", "--seed-file", path)
		if code != ExitError || !strings.Contains(stderr, "already exists; refusing to overwrite it") || out != "" {
			t.Errorf("keygen --seed-file %s (exists): exit %d, out %q, err %q; want exit %d, already exists, nothing printed",
				filepath.Base(path), code, out, stderr, ExitError)
		}
	}
	for _, path := range []string{seed, target} {
		if got, err := os.ReadFile(path); err != nil || string(got) != old {
			t.Errorf("%s after the refused keygen: %q, %v; want it unchanged", filepath.Base(path), got, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Errorf("the dangling symlink's target was created (%v); want nothing written", err)
	}
}

// A new seed file is mode 0600 and holds the seed, which is not printed:
// stdout has the kid, the public key and the file's name.
func TestKeygenSeedFile(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "op.seed")
	out, _, code := lotgate(t, "", "keys", "keygen", "--seed-file", seed)
	if code != 0 || !strings.Contains(out, "public_key: ") || !strings.Contains(out, "seed_file: "+seed) || strings.Contains(out, "private_seed") {
		t.Fatalf("keygen --seed-file: exit %d, %q; want kid, public_key and seed_file, no private_seed", code, out)
	}
	st, err := os.Stat(seed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode %v; want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, strings.TrimSpace(string(b))) {
		t.Errorf("keygen printed the seed it wrote to the file: %q", out)
	}
	priv, err := keys.ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("seed file: %v", err)
	}
	pub := keys.EncodePublicKey(priv.Public().(ed25519.PublicKey))
	if !strings.Contains(out, "public_key: "+pub+"\n") {
		t.Errorf("printed public key is not the seed's (%s): %q", pub, out)
	}

	// Without --seed-file the seed is printed: there is nowhere else to get it.
	out, _, code = lotgate(t, "", "keys", "keygen")
	if code != 0 || !strings.Contains(out, "private_seed: ") {
		t.Errorf("keygen: exit %d, %q; want the private_seed printed", code, out)
	}
}

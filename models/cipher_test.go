package models_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// Keys of a rotation: old is APP_SECRET_KEY before it, next after it;
// stranger was never configured anywhere.
var (
	oldKey      = []byte("old-key-old-key-old-key-old-key!")
	nextKey     = []byte("next-key-next-key-next-key-next!")
	strangerKey = []byte("stranger-stranger-stranger-key!!")
)

func box(t testing.TB, key []byte, previous ...[]byte) *models.SecretBox {
	t.Helper()
	b, err := models.NewSecretBox(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sealUnversioned seals as SecretBox did before key ids: nonce | ciphertext,
// the client key alone as associated data. Rows written then must still
// open.
func sealUnversioned(t testing.TB, key []byte, nonce []byte, plain []byte, clientKey string) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	if nonce == nil {
		nonce = make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			t.Fatal(err)
		}
	}
	return aead.Seal(append([]byte{}, nonce...), nonce, plain, []byte(clientKey))
}

func keyIDBytes(t testing.TB, key []byte) []byte {
	t.Helper()
	id, err := hex.DecodeString(models.SecretKeyID(key))
	if err != nil || len(id) != 4 {
		t.Fatalf("key id %q: %v", models.SecretKeyID(key), err)
	}
	return id
}

func TestSecretBoxOpensAcrossARotation(t *testing.T) {
	secret := []byte("the tenant's shared secret")
	before := box(t, oldKey)                // APP_SECRET_KEY=old
	addNext := box(t, oldKey, nextKey)      // step 1: the next key may open
	rotated := box(t, nextKey, oldKey)      // step 2: the next key seals
	after := box(t, nextKey)                // step 4: the old key removed
	stranger := box(t, strangerKey, oldKey) // another deployment's key
	twoPrevious := box(t, nextKey, strangerKey, oldKey)
	// An unversioned value whose random nonce happens to start like a
	// versioned header naming the current key: the header leads nowhere,
	// and the unversioned reading must still be tried.
	lookalike := append(append([]byte("sb1"), keyIDBytes(t, nextKey)...), 1, 2, 3, 4, 5)

	tests := []struct {
		name    string
		sealed  func(t *testing.T) []byte
		opener  *models.SecretBox
		client  string
		wantErr bool
	}{
		{name: "old seal, old box", sealed: sealWith(before, "ck"), opener: before, client: "ck"},
		{name: "old seal opens once the next key is added", sealed: sealWith(before, "ck"), opener: addNext, client: "ck"},
		{name: "old seal opens after the rotation", sealed: sealWith(before, "ck"), opener: rotated, client: "ck"},
		{name: "new seal opens on a replica not yet rotated", sealed: sealWith(rotated, "ck"), opener: addNext, client: "ck"},
		{name: "new seal opens after the old key is removed", sealed: sealWith(rotated, "ck"), opener: after, client: "ck"},
		{name: "old seal needs the old key", sealed: sealWith(before, "ck"), opener: after, client: "ck", wantErr: true},
		{name: "new seal needs the new key", sealed: sealWith(rotated, "ck"), opener: before, client: "ck", wantErr: true},
		{name: "old seal opens with the second of two previous keys", sealed: sealWith(before, "ck"), opener: twoPrevious, client: "ck"},
		{name: "a seal of another deployment does not open", sealed: sealWith(stranger, "ck"), opener: rotated, client: "ck", wantErr: true},
		{name: "bound to the tenant", sealed: sealWith(rotated, "ck"), opener: rotated, client: "other", wantErr: true},
		{name: "unversioned under the old key opens after the rotation", opener: rotated, client: "ck",
			sealed: func(t *testing.T) []byte { return sealUnversioned(t, oldKey, nil, secret, "ck") }},
		{name: "unversioned under the current key", opener: after, client: "ck",
			sealed: func(t *testing.T) []byte { return sealUnversioned(t, nextKey, nil, secret, "ck") }},
		{name: "unversioned stays bound to the tenant", opener: rotated, client: "other", wantErr: true,
			sealed: func(t *testing.T) []byte { return sealUnversioned(t, oldKey, nil, secret, "ck") }},
		{name: "unversioned whose nonce looks like a header", opener: rotated, client: "ck",
			sealed: func(t *testing.T) []byte { return sealUnversioned(t, oldKey, lookalike[:12], secret, "ck") }},
		{name: "header pointed at another key", opener: rotated, client: "ck", wantErr: true,
			sealed: func(t *testing.T) []byte {
				s := sealWith(rotated, "ck")(t)
				copy(s[3:7], keyIDBytes(t, oldKey))
				return s
			}},
		{name: "truncated", opener: rotated, client: "ck", wantErr: true,
			sealed: func(t *testing.T) []byte { return sealWith(rotated, "ck")(t)[:9] }},
		{name: "empty", opener: rotated, client: "ck", wantErr: true,
			sealed: func(t *testing.T) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(tt.sealed(t), tt.client)
			if tt.wantErr {
				if !errors.Is(err, models.ErrSecretUnopenable) {
					t.Fatalf("opened %q, err %v; want ErrSecretUnopenable", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func sealWith(b *models.SecretBox, clientKey string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		s, err := b.Seal([]byte("the tenant's shared secret"), clientKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestSealNamesItsKey: a sealed value starts with "sb1" and the current
// key's id, and two seals of one secret differ (fresh nonces).
func TestSealNamesItsKey(t *testing.T) {
	b := box(t, nextKey, oldKey)
	one, err := b.Seal([]byte("s"), "ck")
	if err != nil {
		t.Fatal(err)
	}
	two, err := b.Seal([]byte("s"), "ck")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("sb1"), keyIDBytes(t, nextKey)...)
	if !bytes.HasPrefix(one, want) || b.KeyID() != models.SecretKeyID(nextKey) {
		t.Fatalf("sealed %x, key id %s; want the prefix %x", one, b.KeyID(), want)
	}
	if bytes.Equal(one, two) {
		t.Fatal("two seals of one secret are equal: the nonce is not fresh")
	}
	if models.SecretKeyID(oldKey) == models.SecretKeyID(nextKey) {
		t.Fatal("two keys share an id")
	}
}

func TestNewSecretBoxChecksEveryKey(t *testing.T) {
	for _, tt := range []struct {
		name     string
		key      []byte
		previous [][]byte
		wantErr  string
	}{
		{name: "short current key", key: []byte("short"), wantErr: "secret box: key: must be 32 bytes, got 5"},
		{name: "short previous key", key: nextKey, previous: [][]byte{oldKey, []byte("x")}, wantErr: "previous key 2: must be 32 bytes, got 1"},
		{name: "no previous key", key: nextKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := models.NewSecretBox(tt.key, tt.previous...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// openStore opens a store on an existing test database with the given keys,
// as a replica configured with them would.
func openStore(t *testing.T, url string, now func() time.Time, key []byte, previous ...[]byte) *models.Store {
	t.Helper()
	s, err := models.Open(context.Background(), models.StoreConfig{URL: url, Box: box(t, key, previous...), Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// setSealed writes a tenant's sealed secret straight into its row, as a
// database written before key ids (or under a lost key) holds it.
func setSealed(t *testing.T, s *models.Store, clientKey string, sealed []byte) {
	t.Helper()
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "UPDATE tenants SET secret_sealed = ? WHERE client_key = ?"
	if s.Dialect() == models.DialectPostgres {
		q = "UPDATE tenants SET secret_sealed = $1 WHERE client_key = $2"
	}
	res, err := db.ExecContext(context.Background(), q, sealed, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("set sealed secret of %s: %d rows", clientKey, n)
	}
}

// TestKeyRotationAndReseal walks a rotation of APP_SECRET_KEY on one
// database: tenants sealed under the old key (one in the format without key
// id, one uninstalled) open once the new key is current, ResealSecrets
// moves them all to the new key in batches, and then a store with the new
// key alone opens every tenant while one with the old key alone opens none.
func TestKeyRotationAndReseal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
		url := dbtest.URL(t, dialect)
		before := openStore(t, url, now, oldKey)
		secrets := map[string]string{}
		for i := range 5 {
			ck := fmt.Sprintf("ck-%d", i)
			secrets[ck] = "secret-" + ck
			if _, err := before.SaveInstall(ctx, models.Install{ClientKey: ck, SharedSecret: []byte(secrets[ck]), BaseURL: "https://x.atlassian.net"}, now()); err != nil {
				t.Fatal(err)
			}
		}
		setSealed(t, before, "ck-1", sealUnversioned(t, oldKey, nil, []byte(secrets["ck-1"]), "ck-1"))
		gone, err := before.TenantByClientKey(ctx, "ck-4")
		if err != nil {
			t.Fatal(err)
		}
		if err := before.MarkUninstalled(ctx, gone.ID, now()); err != nil {
			t.Fatal(err)
		}
		updatedBefore := gone.UpdatedAt

		rotated := openStore(t, url, now, nextKey, oldKey)
		opensAll := func(s *models.Store) error {
			for ck, want := range secrets {
				got, err := s.TenantByClientKey(ctx, ck)
				if err != nil {
					return err
				}
				if string(got.SharedSecret) != want {
					return fmt.Errorf("%s: secret %q, want %q", ck, got.SharedSecret, want)
				}
			}
			return nil
		}
		if err := opensAll(rotated); err != nil {
			t.Fatalf("after the rotation, before the re-seal: %v", err)
		}
		// A tenant installed after the rotation is sealed under the new key.
		secrets["ck-new"] = "secret-ck-new"
		if _, err := rotated.SaveInstall(ctx, models.Install{ClientKey: "ck-new", SharedSecret: []byte(secrets["ck-new"]), BaseURL: "https://y.atlassian.net"}, now()); err != nil {
			t.Fatal(err)
		}

		var total models.ResealBatch
		var after models.TenantID
		for calls := 0; ; calls++ {
			if calls > 10 {
				t.Fatal("ResealSecrets does not come to an end")
			}
			b, err := rotated.ResealSecrets(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if b.Scanned > 0 && b.Last <= after {
				t.Fatalf("batch after %d ended at %d", after, b.Last)
			}
			total.Scanned += b.Scanned
			total.Resealed += b.Resealed
			total.Unopenable = append(total.Unopenable, b.Unopenable...)
			if b.Scanned < 2 {
				break
			}
			after = b.Last
		}
		if total.Scanned != 6 || total.Resealed != 5 || len(total.Unopenable) != 0 {
			t.Fatalf("re-seal: %+v, want 6 scanned, 5 re-sealed (the new tenant was current)", total)
		}
		if again, err := rotated.ResealSecrets(ctx, 0, 100); err != nil || again.Scanned != 6 || again.Resealed != 0 {
			t.Fatalf("second re-seal: %+v %v, want nothing left to do", again, err)
		}
		if err := opensAll(openStore(t, url, now, nextKey)); err != nil {
			t.Fatalf("with the old key removed: %v", err)
		}
		for ck := range secrets {
			if _, err := openStore(t, url, now, oldKey).TenantByClientKey(ctx, ck); !errors.Is(err, models.ErrSecretUnopenable) {
				t.Fatalf("%s still opens with the old key alone (%v): it was not re-sealed", ck, err)
			}
		}
		if g, err := rotated.Tenant(ctx, gone.ID); err != nil || !g.UpdatedAt.Equal(updatedBefore) {
			t.Fatalf("re-seal touched updated_at of %d: %v → %v (%v)", gone.ID, updatedBefore, g.UpdatedAt, err)
		}
	})
}

// TestResealReportsWhatNoKeyOpens: a tenant sealed under a key nobody
// configured is listed, left as it is, and does not stop the others.
func TestResealReportsWhatNoKeyOpens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		url := dbtest.URL(t, dialect)
		s := openStore(t, url, time.Now, nextKey, oldKey)
		for _, ck := range []string{"a", "lost", "c"} {
			if _, err := s.SaveInstall(ctx, models.Install{ClientKey: ck, SharedSecret: []byte("s-" + ck), BaseURL: "https://x"}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		stray := sealUnversioned(t, strangerKey, nil, []byte("s-lost"), "lost")
		setSealed(t, s, "lost", stray)
		setSealed(t, s, "c", sealUnversioned(t, oldKey, nil, []byte("s-c"), "c"))
		lost, err := openStore(t, url, time.Now, strangerKey).TenantByClientKey(ctx, "lost")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.ResealSecrets(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if b.Scanned != 3 || b.Resealed != 1 || len(b.Unopenable) != 1 || b.Unopenable[0] != lost.ID {
			t.Fatalf("got %+v, want 3 scanned, c re-sealed, %d unopenable", b, lost.ID)
		}
		if got, err := openStore(t, url, time.Now, strangerKey).TenantByClientKey(ctx, "lost"); err != nil || string(got.SharedSecret) != "s-lost" {
			t.Fatalf("the unopenable row was changed: %v", err)
		}
	})
}

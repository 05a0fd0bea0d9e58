package secretbox_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"agentpresence/models/secretbox"
	"agentpresence/models/secretbox/secretboxtest"
)

func keyIDBytes(t testing.TB, key []byte) []byte {
	t.Helper()
	id, err := hex.DecodeString(secretbox.KeyID(key))
	if err != nil || len(id) != 4 {
		t.Fatalf("key id %q: %v", secretbox.KeyID(key), err)
	}
	return id
}

func TestOpensAcrossARotation(t *testing.T) {
	secret := []byte("the tenant's shared secret")
	before := secretboxtest.Box(t, secretboxtest.OldKey)                              // APP_SECRET_KEY=old
	addNext := secretboxtest.Box(t, secretboxtest.OldKey, secretboxtest.NextKey)      // step 1: the next key may open
	rotated := secretboxtest.Box(t, secretboxtest.NextKey, secretboxtest.OldKey)      // step 2: the next key seals
	after := secretboxtest.Box(t, secretboxtest.NextKey)                              // step 4: the old key removed
	stranger := secretboxtest.Box(t, secretboxtest.StrangerKey, secretboxtest.OldKey) // another deployment's key
	twoPrevious := secretboxtest.Box(t, secretboxtest.NextKey, secretboxtest.StrangerKey, secretboxtest.OldKey)
	// An unversioned value whose random nonce happens to start like a
	// versioned header naming the current key: the header leads nowhere,
	// and the unversioned reading must still be tried.
	lookalike := append(append([]byte("sb1"), keyIDBytes(t, secretboxtest.NextKey)...), 1, 2, 3, 4, 5)

	tests := []struct {
		name    string
		sealed  func(t *testing.T) []byte
		opener  *secretbox.Box
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
			sealed: func(t *testing.T) []byte {
				return secretboxtest.SealUnversioned(t, secretboxtest.OldKey, nil, secret, "ck")
			}},
		{name: "unversioned under the current key", opener: after, client: "ck",
			sealed: func(t *testing.T) []byte {
				return secretboxtest.SealUnversioned(t, secretboxtest.NextKey, nil, secret, "ck")
			}},
		{name: "unversioned stays bound to the tenant", opener: rotated, client: "other", wantErr: true,
			sealed: func(t *testing.T) []byte {
				return secretboxtest.SealUnversioned(t, secretboxtest.OldKey, nil, secret, "ck")
			}},
		{name: "unversioned whose nonce looks like a header", opener: rotated, client: "ck",
			sealed: func(t *testing.T) []byte {
				return secretboxtest.SealUnversioned(t, secretboxtest.OldKey, lookalike[:12], secret, "ck")
			}},
		{name: "header pointed at another key", opener: rotated, client: "ck", wantErr: true,
			sealed: func(t *testing.T) []byte {
				s := sealWith(rotated, "ck")(t)
				copy(s[3:7], keyIDBytes(t, secretboxtest.OldKey))
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
				if !errors.Is(err, secretbox.ErrUnopenable) {
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

func sealWith(b *secretbox.Box, clientKey string) func(t *testing.T) []byte {
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
	b := secretboxtest.Box(t, secretboxtest.NextKey, secretboxtest.OldKey)
	one, err := b.Seal([]byte("s"), "ck")
	if err != nil {
		t.Fatal(err)
	}
	two, err := b.Seal([]byte("s"), "ck")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("sb1"), keyIDBytes(t, secretboxtest.NextKey)...)
	if !bytes.HasPrefix(one, want) || b.KeyID() != secretbox.KeyID(secretboxtest.NextKey) {
		t.Fatalf("sealed %x, key id %s; want the prefix %x", one, b.KeyID(), want)
	}
	if bytes.Equal(one, two) {
		t.Fatal("two seals of one secret are equal: the nonce is not fresh")
	}
	if secretbox.KeyID(secretboxtest.OldKey) == secretbox.KeyID(secretboxtest.NextKey) {
		t.Fatal("two keys share an id")
	}
}

func TestNewChecksEveryKey(t *testing.T) {
	for _, tt := range []struct {
		name     string
		key      []byte
		previous [][]byte
		wantErr  string
	}{
		{name: "short current key", key: []byte("short"), wantErr: "secret box: key: must be 32 bytes, got 5"},
		{name: "short previous key", key: secretboxtest.NextKey, previous: [][]byte{secretboxtest.OldKey, []byte("x")}, wantErr: "previous key 2: must be 32 bytes, got 1"},
		{name: "no previous key", key: secretboxtest.NextKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secretbox.New(tt.key, tt.previous...)
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

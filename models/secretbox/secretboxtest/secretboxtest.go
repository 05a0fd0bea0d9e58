// Package secretboxtest holds what tests of the secret box and of its
// users share: the keys of a rotation and the sealing of rows written
// before key ids, which must still open.
package secretboxtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"agentpresence/models/secretbox"
)

// Keys of a rotation: Old is APP_SECRET_KEY before it, Next after it;
// Stranger was never configured anywhere.
var (
	OldKey      = []byte("old-key-old-key-old-key-old-key!")
	NextKey     = []byte("next-key-next-key-next-key-next!")
	StrangerKey = []byte("stranger-stranger-stranger-key!!")
)

// Box is secretbox.New for a test: a refused key stops it.
func Box(t testing.TB, key []byte, previous ...[]byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SealUnversioned seals as the secret box did before key ids: nonce |
// ciphertext, the client key alone as associated data. A nil nonce is a
// random one.
func SealUnversioned(t testing.TB, key []byte, nonce []byte, plain []byte, clientKey string) []byte {
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

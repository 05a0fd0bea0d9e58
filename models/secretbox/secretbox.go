// Package secretbox seals tenants' shared secrets at rest with AES-256-GCM,
// under a current key and any previous ones (rotation without downtime).
// It knows the standard library only: the store holds a Box and seals and
// opens through it.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Box seals tenants' shared secrets with AES-256-GCM so that a copy of
// the database alone does not let anyone forge Jira's tokens.
//
// It seals with one current key and opens with the current key or any
// previous one, so that APP_SECRET_KEY can be rotated while replicas with
// the old and the new configuration run side by side. A sealed value names
// its key:
//
//	"sb1" | key id (4 bytes) | nonce (12) | ciphertext and tag
//
// where the key id is the start of SHA-256 over a label and the key (it
// tells keys apart; it cannot help anyone find one). The header is bound as
// associated data together with the tenant's client key. Values sealed
// before key ids existed (nonce | ciphertext, the client key alone as
// associated data) still open: every key is tried, current first.
type Box struct {
	keys []sealKey // the current key first, then the previous keys in order
}

// sealKey is one AES-256-GCM key with its id.
type sealKey struct {
	id   [keyIDLen]byte
	aead cipher.AEAD
}

// sealMagic starts every value sealed with a key id. A value in the older
// format starts with a random nonce, which begins with these bytes once in
// 2^24; opening falls back to the older format whenever the header does
// not lead to a key that opens the value, so such a value still opens.
var sealMagic = []byte("sb1")

const (
	keyIDLen   = 4
	sealKeyLen = 32
)

// New takes the current 32-byte key, which seals and opens, and any
// previous keys, which only open.
func New(key []byte, previous ...[]byte) (*Box, error) {
	b := &Box{}
	for i, k := range append([][]byte{key}, previous...) {
		sk, err := newSealKey(k)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("secret box: key: %w", err)
			}
			return nil, fmt.Errorf("secret box: previous key %d: %w", i, err)
		}
		b.keys = append(b.keys, sk)
	}
	return b, nil
}

func newSealKey(key []byte) (sealKey, error) {
	if len(key) != sealKeyLen {
		return sealKey{}, fmt.Errorf("must be %d bytes, got %d", sealKeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealKey{}, err
	}
	return sealKey{id: keyID(key), aead: aead}, nil
}

// keyID names a key without revealing it.
func keyID(key []byte) [keyIDLen]byte {
	sum := sha256.Sum256(append([]byte("agentpresence secret box key id\x00"), key...))
	return [keyIDLen]byte(sum[:keyIDLen])
}

// KeyID is the id that values sealed under key carry, in hex: what the log
// and the re-seal report show to tell keys apart.
func KeyID(key []byte) string {
	id := keyID(key)
	return hex.EncodeToString(id[:])
}

// KeyID is the id of the current key, in hex.
func (b *Box) KeyID() string { return hex.EncodeToString(b.keys[0].id[:]) }

// Seal encrypts plain under the current key; the tenant's client key is
// bound as associated data so that a sealed secret copied onto another
// tenant's row does not open.
func (b *Box) Seal(plain []byte, clientKey string) ([]byte, error) {
	k := b.keys[0]
	header := make([]byte, 0, len(sealMagic)+keyIDLen+k.aead.NonceSize())
	header = append(append(header, sealMagic...), k.id[:]...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	out := append(header, nonce...)
	return k.aead.Seal(out, nonce, plain, associated(out[:len(header)], clientKey)), nil
}

// ErrUnopenable means that no configured key opens a sealed secret:
// it was sealed under a key that is no longer configured, or for another
// tenant, or it was damaged.
var ErrUnopenable = errors.New("no configured key opens the sealed secret")

// Open decrypts what Seal produced for the same client key, under the
// current key or a previous one.
func (b *Box) Open(sealed []byte, clientKey string) ([]byte, error) {
	plain, _, err := b.Unseal(sealed, clientKey)
	return plain, err
}

// Unseal is Open that also reports whether the value is sealed as Seal
// seals today: with a key id, under the current key. Anything else wants
// re-sealing.
func (b *Box) Unseal(sealed []byte, clientKey string) (plain []byte, current bool, err error) {
	headerLen := len(sealMagic) + keyIDLen
	if len(sealed) > headerLen && bytes.HasPrefix(sealed, sealMagic) {
		id := [keyIDLen]byte(sealed[len(sealMagic):headerLen])
		body := sealed[headerLen:]
		for i, k := range b.keys {
			if k.id != id || len(body) < k.aead.NonceSize() {
				continue
			}
			n := k.aead.NonceSize()
			if p, err := k.aead.Open(nil, body[:n], body[n:], associated(sealed[:headerLen], clientKey)); err == nil {
				return p, i == 0, nil
			}
		}
	}
	// The format without a key id: try every key, current first.
	for _, k := range b.keys {
		n := k.aead.NonceSize()
		if len(sealed) < n {
			break
		}
		if p, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(clientKey)); err == nil {
			return p, false, nil
		}
	}
	return nil, false, fmt.Errorf("open secret: %w", ErrUnopenable)
}

// associated is the data a sealed value is bound to: its header and the
// tenant's client key.
func associated(header []byte, clientKey string) []byte {
	return append(append([]byte{}, header...), clientKey...)
}

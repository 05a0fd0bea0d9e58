package forge

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Issuer is the iss of every Forge Invocation Token.
const Issuer = "forge/invocation-token"

// appARIPrefix prefixes an app's UUID in its ARI, which is the FIT's aud.
const appARIPrefix = "ari:cloud:ecosystem::app/"

// installationARIPrefix prefixes an installation's UUID in its ARI.
const installationARIPrefix = "ari:cloud:ecosystem::installation/"

// uuidPattern is a UUID in its canonical, lower- or upper-case text form.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ErrAppID reports a configured app id that is neither a UUID nor an app
// ARI.
var ErrAppID = errors.New("forge app id must be a UUID or ari:cloud:ecosystem::app/<uuid>")

// AppARI returns the ARI of the app whose id is given either bare (the
// UUID that `forge register` prints) or as "ari:cloud:ecosystem::app/<uuid>",
// the form the FIT's aud and app.id carry. The UUID is lower-cased, as
// Atlassian writes it.
func AppARI(id string) (string, error) {
	id = strings.TrimSpace(id)
	bare := strings.TrimPrefix(id, appARIPrefix)
	if !uuidPattern.MatchString(bare) {
		return "", fmt.Errorf("app ari %.80q: %w", id, ErrAppID)
	}
	return appARIPrefix + strings.ToLower(bare), nil
}

// AppUUID returns the bare UUID of an app id given in either form.
func AppUUID(id string) (string, error) {
	ari, err := AppARI(id)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(ari, appARIPrefix), nil
}

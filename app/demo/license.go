package demo

import (
	"agentpresence/handlers/forge/forgetest"
)

// The site's Marketplace license, as the demo's header switch sets it: a
// paid app's Jira adds it to every page URL (lic=active|none) and Forge to
// every invocation token (app.license.active). The app acts on it only
// with LICENSING=on.
const (
	licenseActive = "active"
	licenseNone   = "none"
)

// setLicense switches the site's license; any other value leaves it.
func (h *Host) setLicense(v string) {
	if v == licenseActive || v == licenseNone {
		h.license.Store(v)
	}
}

// siteLicense is the site's license: "active" or "none".
func (h *Host) siteLicense() string {
	v, _ := h.license.Load().(string)
	return v
}

// forgeInstallation is the demo's Forge installation as its invocation
// tokens describe it now: with the site's license.
func (h *Host) forgeInstallation() forgetest.Installation {
	inst := h.forge.inst
	active := h.siteLicense() == licenseActive
	inst.License = &active
	return inst
}

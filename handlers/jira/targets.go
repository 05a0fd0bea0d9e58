package jira

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenTarget reports a Jira site the app refuses to call: not
// https, or an address on this machine, a private or link-local network
// (the cloud metadata service), or a redirect to another host.
var ErrForbiddenTarget = errors.New("jira: forbidden target")

// TargetPolicy decides which sites the app calls as a tenant's Jira and
// which addresses it connects to for them. Its zero value is what
// production needs: https to public addresses only.
type TargetPolicy struct {
	// AllowLoopback also lets a site be http:// on a loopback address
	// (localhost, 127.0.0.0/8, ::1): the simulated Jira of the demo and of
	// the tests (handlers/jira/jiratest). Never in production.
	AllowLoopback bool
}

// CheckBaseURL checks a tenant's baseUrl as given at install, before
// anything is stored or dialled: https://host[:port][/path], with a host
// name or a public address. Host names are checked again, once resolved,
// by the dialer of HTTPClient.
func (p TargetPolicy) CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%w: the base URL must be https://host[/path]", ErrForbiddenTarget)
	}
	host := u.Hostname()
	loopback := isLoopbackName(host)
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowLoopback && loopback:
	default:
		return fmt.Errorf("%w: the base URL must be https", ErrForbiddenTarget)
	}
	if loopback && !p.AllowLoopback {
		return fmt.Errorf("%w: the base URL names this machine", ErrForbiddenTarget)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(ip)
	}
	return nil
}

// isLoopbackName tells whether a URL's host names this machine by name or
// by address.
func isLoopbackName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// nonPublic are the special-purpose ranges (RFC 6890 and later) that
// netip's predicates do not cover: this network, shared address space
// (carrier NAT), IETF protocol assignments, documentation, benchmarking,
// reserved and broadcast; IPv6 translation and 6to4 prefixes, which embed
// an IPv4 address that may be private, documentation and site-local.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("fec0::/10"),
}

// CheckAddr checks an address the app is about to connect to: a public
// unicast address, or a loopback one where AllowLoopback says so.
func (p TargetPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is this machine", ErrForbiddenTarget, ip)
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return fmt.Errorf("%w: %s is not a public address", ErrForbiddenTarget, ip)
	}
	for _, pre := range nonPublic {
		if pre.Contains(ip) {
			return fmt.Errorf("%w: %s is not a public address", ErrForbiddenTarget, ip)
		}
	}
	return nil
}

// control is the dialer's hook: it runs once the name is resolved, on the
// very address about to be connected, before the connection is made. So a
// name that resolves to a private address (DNS rebinding included) is
// refused like the address itself.
func (p TargetPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address", ErrForbiddenTarget, address)
	}
	return p.CheckAddr(ap.Addr())
}

// maxRedirects bounds the same-host redirects followed.
const maxRedirects = 3

// HTTPClient returns a client for tenants' Jira: its dialer refuses the
// addresses CheckAddr refuses before connecting; it follows a redirect
// only to the same scheme and host; and it uses no proxy, whose address
// the dialer would check instead of the site's.
func (p TargetPolicy) HTTPClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = dialer.DialContext
	return &http.Client{Timeout: timeout, Transport: t, CheckRedirect: sameHostRedirect}
}

func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrForbiddenTarget, maxRedirects)
	}
	if first := via[0].URL; req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("%w: a redirect to another host", ErrForbiddenTarget)
	}
	return nil
}
